//! Pod specs: a container's env and envFrom with their paths, and the volumes its mounts use.

use crate::Path;

use super::{Container, ContainerAt, EnvVar, KeySelector, PodSpec, Reference, Volume, VolumeMount};

impl ContainerAt<'_> {
    /// The container as messages name it: `init container "setup"`, `container "pg"`.
    pub fn describe(&self) -> String {
        format!("{} {:?}", self.kind.label(), self.container.name)
    }

    /// The container's `env` with the path of each variable, e.g. `spec.containers[0].env[2]`.
    pub fn env(&self) -> impl Iterator<Item = (Path, &EnvVar)> {
        let env = self.path.clone().key("env");
        let vars = self.container.env.iter().enumerate();
        vars.map(move |(i, var)| (env.clone().index(i), var))
    }

    /// The ConfigMaps the container loads whole with `envFrom`, with the path of each
    /// `configMapRef`, e.g. `spec.containers[0].envFrom[1].configMapRef`.
    pub fn env_from_config_maps(&self) -> impl Iterator<Item = (Path, &Reference)> {
        let env_from = self.path.clone().key("envFrom");
        let sources = self.container.env_from.iter().enumerate();
        sources.filter_map(move |(i, source)| {
            let reference = source.config_map_ref.as_ref()?;
            Some((env_from.clone().index(i).key("configMapRef"), reference))
        })
    }
}

impl EnvVar {
    /// The literal `value` (empty for a `valueFrom` variable).
    pub fn literal(&self) -> &str {
        self.value.as_deref().unwrap_or_default()
    }

    /// `valueFrom.configMapKeyRef`: the ConfigMap key the variable takes its value from.
    pub fn config_map_key_ref(&self) -> Option<&KeySelector> {
        self.value_from.as_ref()?.config_map_key_ref.as_ref()
    }
}

/// A volume mount of a container and the pod spec's volume it mounts.
#[derive(Debug, Clone, Copy)]
pub struct Mounted<'a> {
    /// The container's `volumeMounts` entry.
    pub mount: &'a VolumeMount,
    /// The index of the volume in the pod spec's `volumes`.
    pub index: usize,
    /// The volume.
    pub volume: &'a Volume,
}

impl PodSpec {
    /// The volume named `name` and its index in `volumes`.
    pub fn volume(&self, name: &str) -> Option<(usize, &Volume)> {
        self.volumes
            .iter()
            .enumerate()
            .find(|(_, v)| v.name == name)
    }

    /// The mounts of `container` with the volumes they mount, in `volumeMounts` order; a mount of
    /// a volume the pod spec does not have is left out.
    pub fn mounts<'a>(&'a self, container: &'a Container) -> impl Iterator<Item = Mounted<'a>> {
        container.volume_mounts.iter().filter_map(|mount| {
            let (index, volume) = self.volume(&mount.name)?;
            Some(Mounted {
                mount,
                index,
                volume,
            })
        })
    }

    /// Whether a volume keeps data beyond the pod (see [`Volume::is_persistent`]).
    pub fn has_persistent_volume(&self) -> bool {
        self.volumes.iter().any(Volume::is_persistent)
    }
}

impl Volume {
    /// Whether the volume is a PersistentVolumeClaim or a generic ephemeral volume (a claim per
    /// pod): storage that a StatefulSet's pod keeps when it is rescheduled, or that a claim's
    /// reclaim policy decides about.
    pub fn is_persistent(&self) -> bool {
        self.persistent_volume_claim.is_some() || self.ephemeral.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"containers":[{"name":"pg",
        "env":[{"name":"A","value":"1"},{"name":"B","valueFrom":{"configMapKeyRef":{"name":"cm","key":"k"}}},
               {"name":"C","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}}],
        "envFrom":[{"secretRef":{"name":"s"}},{"configMapRef":{"name":"cm"}}],
        "volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"gone","mountPath":"/x"},
                        {"name":"tmp","mountPath":"/tmp"}]}],
        "volumes":[{"name":"tmp","emptyDir":{}},{"name":"data","persistentVolumeClaim":{"claimName":"d"}}]}"#;

    #[test]
    fn env_and_env_from_come_with_their_paths() {
        let spec: PodSpec = serde_json::from_str(SPEC).unwrap();
        let at = spec
            .all_containers(&Path::root().key("spec"))
            .next()
            .unwrap();
        assert_eq!(at.describe(), r#"container "pg""#);
        let env: Vec<_> = at
            .env()
            .map(|(p, v)| (p.to_string(), v.literal(), v.config_map_key_ref().is_some()))
            .collect();
        assert_eq!(
            env,
            [
                ("spec.containers[0].env[0]".to_owned(), "1", false),
                ("spec.containers[0].env[1]".to_owned(), "", true),
                ("spec.containers[0].env[2]".to_owned(), "", false),
            ]
        );
        let refs: Vec<_> = at
            .env_from_config_maps()
            .map(|(p, r)| (p.to_string(), r.name.as_str()))
            .collect();
        assert_eq!(
            refs,
            [(
                "spec.containers[0].envFrom[1].configMapRef".to_owned(),
                "cm"
            )]
        );
    }

    #[test]
    fn mounts_find_their_volumes() {
        let spec: PodSpec = serde_json::from_str(SPEC).unwrap();
        let mounts: Vec<_> = spec
            .mounts(&spec.containers[0])
            .map(|m| {
                (
                    m.mount.mount_path.as_str(),
                    m.index,
                    m.volume.is_persistent(),
                )
            })
            .collect();
        assert_eq!(mounts, [("/data", 1, true), ("/tmp", 0, false)]);
        assert!(spec.volume("gone").is_none());
        assert!(spec.has_persistent_volume());
        let ephemeral: PodSpec =
            serde_json::from_str(r#"{"volumes":[{"name":"e","ephemeral":{}}]}"#).unwrap();
        assert!(ephemeral.has_persistent_volume());
        assert!(!PodSpec::default().has_persistent_volume());
    }
}
