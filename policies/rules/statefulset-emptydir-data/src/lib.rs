#![doc = include_str!("../README.md")]

mod dirs;

use ws3_policy_sdk::prelude::*;
use ws3_policy_sdk::shape::{
    ContainerAt, ContainerKind, Mounted, PodSpec, StatefulSet, VolumeMount,
};

/// `statefulset-emptydir-data`: a StatefulSet keeps data on an `emptyDir` volume.
#[derive(Debug, Clone, Copy)]
pub struct StatefulSetEmptyDirData;

impl Rule for StatefulSetEmptyDirData {
    const META: Meta = Meta {
        id: "statefulset-emptydir-data",
        title: "statefulset keeps its data on an emptydir volume",
        severity: Severity::Error,
        applies_to: &[Scope::new(
            KindRef::new("apps", "StatefulSet"),
            Operations::CREATE.with(Operations::UPDATE),
        )],
        workloads: Operations::NONE,
        reads: &[],
        exempt_namespaces: &[],
        rationale: "an emptyDir volume lives and dies with its pod: when a StatefulSet pod is \
                    deleted, evicted or rescheduled, the database files on it are gone; data \
                    belongs on a PersistentVolumeClaim, one per replica from volumeClaimTemplates",
        docs: include_str!("../README.md"),
    };

    fn validate(req: &Request, _cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
        // On delete there is nothing left to keep data in.
        if req.operation == Operation::Delete || req.kind() != "StatefulSet" {
            return Ok(vec![]); // e.g. a `Scale` sent for a StatefulSet
        }
        // One pass over the object, reading only the fields of the SDK's narrow shapes.
        let Some(sts) = req.object_as::<StatefulSet>()? else {
            return Ok(vec![]);
        };
        let has_claim_templates = sts.spec.volume_claim_templates.0 > 0;
        let spec = &sts.spec.template.spec;
        let spec_path = Path::root().keys(&["spec", "template", "spec"]);
        let check = Check {
            spec,
            volumes_path: spec_path.clone().key("volumes"),
            no_persistent_storage: !has_claim_templates && !spec.has_persistent_volume(),
        };
        let mut findings = Vec::new();
        // Ephemeral containers are skipped: the API server forbids them in a pod template.
        for at in spec.all_containers(&spec_path) {
            if at.kind != ContainerKind::Ephemeral {
                check.container(&at, &mut findings);
            }
        }
        Ok(findings)
    }
}

ws3_policy_sdk::export_rule!(StatefulSetEmptyDirData);

/// Whether a mount of an emptyDir volume holds data, in this order: a known data directory (or
/// the container's `PGDATA`) always does; scratch space (`/tmp`, `/run`, caches) never does,
/// whatever the volume's name; then a data-like volume name does; and, in a StatefulSet without
/// any persistent storage, so does every writable mount outside `/etc`.
fn is_data(
    path: &str,
    pgdata: Option<&str>,
    volume: &str,
    mount: &VolumeMount,
    no_persistent_storage: bool,
) -> bool {
    if dirs::is_data_dir(path, pgdata) {
        return true;
    }
    if dirs::is_scratch(path) {
        return false;
    }
    let writable = mount.read_only != Some(true);
    dirs::is_data_volume_name(volume)
        || (no_persistent_storage && writable && !dirs::is_config(path))
}

/// The per-pod-spec context of the mount checks.
struct Check<'a> {
    spec: &'a PodSpec,
    volumes_path: Path,
    /// No volumeClaimTemplates, PVC or ephemeral volume: every writable non-scratch mount is data.
    no_persistent_storage: bool,
}

impl Check<'_> {
    /// Adds one finding per data mount of `container` on an emptyDir volume.
    fn container(&self, at: &ContainerAt<'_>, findings: &mut Vec<Finding>) {
        let pgdata = at
            .container
            .env
            .iter()
            .find(|e| e.name == "PGDATA")
            .and_then(|e| e.value.as_deref())
            .filter(|v| !v.is_empty());
        for mounted in self.spec.mounts(at.container) {
            let Mounted { mount, volume, .. } = mounted;
            if volume.empty_dir.is_none() {
                continue;
            }
            let path = mount.mount_path.as_str();
            if !is_data(
                path,
                pgdata,
                &volume.name,
                mount,
                self.no_persistent_storage,
            ) {
                continue;
            }
            findings.push(StatefulSetEmptyDirData::finding(
                format!(
                    "{} keeps its data at {path} on emptyDir volume {:?}, which is deleted \
                     with the pod",
                    at.describe(),
                    volume.name
                ),
                self.volumes_path
                    .clone()
                    .index(mounted.index)
                    .key("emptyDir"),
                format!(
                    "replace emptyDir volume {:?} with a volumeClaimTemplates entry of that \
                     name (or a persistentVolumeClaim volume)",
                    volume.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
