#![doc = include_str!("../README.md")]

mod detect;

use ws3_policy_sdk::Template;
use ws3_policy_sdk::prelude::*;

use detect::{has_inline_password, is_credential_key, is_literal_secret};
use shape::{ConfigMap, EnvFromSource, EnvVar, PodSpec};

/// `postgres-credentials-in-configmap`: a postgres password kept in a ConfigMap or a plain env
/// value instead of a Secret.
#[derive(Debug, Clone, Copy)]
pub struct PostgresCredentialsInConfigMap;

const CONFIG_MAP: KindRef = KindRef::new("", "ConfigMap");

const SECRET_HINT: &str = "move it to a Secret and reference it with secretKeyRef or secretRef \
                           (or mount the Secret as a file and use a *_FILE variable)";

impl Rule for PostgresCredentialsInConfigMap {
    const META: Meta = Meta {
        id: "postgres-credentials-in-configmap",
        title: "postgres password in a configmap or a plain env value",
        severity: Severity::Error,
        applies_to: &[
            Scope::new(CONFIG_MAP, Operations::CREATE.with(Operations::UPDATE)),
            // A pod's env cannot change after it is created.
            Scope::new(KindRef::new("", "Pod"), Operations::CREATE),
        ],
        workloads: Operations::CREATE.with(Operations::UPDATE),
        reads: &[CONFIG_MAP],
        exempt_namespaces: &[],
        rationale: "configmaps and pod specs are readable by anyone who may read the workload, are \
                    printed by kubectl describe and end up in git and logs; a Secret has its own \
                    access rules, can be encrypted at rest and is kept in tmpfs on the node",
        docs: include_str!("../README.md"),
    };

    fn validate(req: &Request, cluster: &dyn Cluster) -> Result<Vec<Finding>, Error> {
        // A deleted object leaks nothing new.
        if req.object.is_none() || req.operation == Operation::Delete {
            return Ok(vec![]);
        }
        if req.kind() == CONFIG_MAP.kind {
            let config_map = req.object_as::<ConfigMap>()?.unwrap_or_default();
            return Ok(config_map_findings(&config_map));
        }
        match req.pod_template_as::<PodSpec>()? {
            Some(template) => workload_findings(&template, &req.namespace, cluster),
            None => Ok(vec![]),
        }
    }
}

ws3_policy_sdk::export_rule!(PostgresCredentialsInConfigMap);

/// A ConfigMap key that holds a postgres credential.
struct CredentialKey<'a> {
    /// `data` or `binaryData`.
    field: &'static str,
    key: &'a str,
    /// Whether the key holds a connection string (rather than a password named as such).
    connection_string: bool,
}

/// The keys of a ConfigMap that hold postgres credentials: a non-empty value under a credential
/// key name, a connection string with an inline password, or a credential key in binaryData.
fn credential_keys(config_map: &ConfigMap) -> Vec<CredentialKey<'_>> {
    let data = config_map.data.iter().flatten().filter_map(|(key, value)| {
        let password = is_credential_key(key) && is_literal_secret(value);
        let connection_string = !password && has_inline_password(value);
        (password || connection_string).then_some(CredentialKey {
            field: "data",
            key,
            connection_string,
        })
    });
    let binary = config_map
        .binary_data
        .iter()
        .flatten()
        .filter_map(|(key, value)| {
            (is_credential_key(key) && !value.0).then_some(CredentialKey {
                field: "binaryData",
                key,
                connection_string: false,
            })
        });
    data.chain(binary).collect()
}

/// (a) One finding per ConfigMap key holding a credential.
fn config_map_findings(config_map: &ConfigMap) -> Vec<Finding> {
    credential_keys(config_map)
        .into_iter()
        .map(|c| {
            let field = if c.field == "data" { "" } else { "binaryData " };
            let what = if c.connection_string {
                "a postgres connection string with an inline password"
            } else {
                "a postgres password"
            };
            PostgresCredentialsInConfigMap::finding(
                format!("configmap {field}key {:?} holds {what}", c.key),
                Path::root().key(c.field).key(c.key),
                SECRET_HINT,
            )
        })
        .collect()
}

/// The env-related parts of one container, init container or ephemeral container.
struct ContainerEnv<'a> {
    label: &'static str,
    name: &'a str,
    path: Path,
    env: &'a [EnvVar],
    env_from: &'a [EnvFromSource],
}

fn container_envs(template: &Template<PodSpec>) -> Vec<ContainerEnv<'_>> {
    let spec = &template.spec;
    let at = |field: &str, i: usize| template.spec_path.clone().key(field).index(i);
    let mut out = Vec::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        out.push(ContainerEnv {
            label: "init container",
            name: &c.name,
            path: at("initContainers", i),
            env: c.env.as_deref().unwrap_or_default(),
            env_from: c.env_from.as_deref().unwrap_or_default(),
        });
    }
    for (i, c) in spec.containers.iter().enumerate() {
        out.push(ContainerEnv {
            label: "container",
            name: &c.name,
            path: at("containers", i),
            env: c.env.as_deref().unwrap_or_default(),
            env_from: c.env_from.as_deref().unwrap_or_default(),
        });
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        out.push(ContainerEnv {
            label: "ephemeral container",
            name: &c.name,
            path: at("ephemeralContainers", i),
            env: c.env.as_deref().unwrap_or_default(),
            env_from: c.env_from.as_deref().unwrap_or_default(),
        });
    }
    out
}

/// (b) and (c): credentials in env values, configMapKeyRefs and envFrom ConfigMaps.
fn workload_findings(
    template: &Template<PodSpec>,
    namespace: &str,
    cluster: &dyn Cluster,
) -> Result<Vec<Finding>, Error> {
    let mut findings = Vec::new();
    for c in container_envs(template) {
        let who = format!("{} {:?}", c.label, c.name);
        for (j, var) in c.env.iter().enumerate() {
            if let Some(finding) = env_finding(&who, var, c.path.clone().key("env").index(j)) {
                findings.push(finding);
            }
        }
        for (j, source) in c.env_from.iter().enumerate() {
            let Some(reference) = &source.config_map_ref else {
                continue;
            };
            let Some(config_map) =
                cluster.get_as::<ConfigMap>(CONFIG_MAP, namespace, &reference.name)?
            else {
                continue;
            };
            let keys = credential_keys(&config_map);
            if keys.is_empty() {
                continue;
            }
            let names: Vec<String> = keys.iter().map(|k| format!("{:?}", k.key)).collect();
            let plural = if names.len() == 1 { "" } else { "s" };
            findings.push(PostgresCredentialsInConfigMap::finding(
                format!(
                    "{who} loads configmap {:?} with envFrom, which holds postgres credentials in \
                     key{plural} {}",
                    reference.name,
                    names.join(", ")
                ),
                c.path.clone().key("envFrom").index(j).key("configMapRef"),
                "move those keys to a Secret and load it with envFrom.secretRef",
            ));
        }
    }
    Ok(findings)
}

/// (b) A credential in one env var: a configMapKeyRef to a credential, a literal password under
/// a credential name, or a literal connection string with an inline password.
fn env_finding(who: &str, var: &EnvVar, path: Path) -> Option<Finding> {
    let name = &var.name;
    if let Some(r) = var
        .value_from
        .as_ref()
        .and_then(|s| s.config_map_key_ref.as_ref())
    {
        return (is_credential_key(name) || is_credential_key(&r.key)).then(|| {
            PostgresCredentialsInConfigMap::finding(
                format!(
                    "{who} takes the postgres password in env var {name:?} from configmap {:?} \
                     key {:?}",
                    r.name, r.key
                ),
                path.key("valueFrom").key("configMapKeyRef"),
                "store it in a Secret and use valueFrom.secretKeyRef",
            )
        });
    }
    let value = var.value.as_deref().unwrap_or_default();
    if is_credential_key(name) && is_literal_secret(value) {
        Some(PostgresCredentialsInConfigMap::finding(
            format!("{who} sets env var {name:?} to a literal postgres password"),
            path,
            "take it from a Secret with valueFrom.secretKeyRef (or mount the Secret as a file and \
             use a *_FILE variable)",
        ))
    } else if has_inline_password(value) {
        Some(PostgresCredentialsInConfigMap::finding(
            format!(
                "{who} sets env var {name:?} to a postgres connection string with an inline password"
            ),
            path,
            "take the password from a Secret with secretKeyRef and write it as $(VAR) in the url, or \
             take the whole url from a Secret",
        ))
    } else {
        None
    }
}

/// The fields the rule reads, named as in `k8s_openapi` and as lenient (a missing or `null`
/// field is empty); serde skips the rest of the object at scanning speed.
mod shape {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use ws3_policy_sdk::shape::nullable;

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub struct ConfigMap {
        #[serde(default)]
        pub data: Option<BTreeMap<String, String>>,
        /// Keys, and whether each value is empty (the values are base64 and never decoded).
        #[serde(default)]
        pub binary_data: Option<BTreeMap<String, Empty>>,
    }

    /// Whether a string is empty, read without keeping it.
    pub struct Empty(pub bool);

    impl<'de> Deserialize<'de> for Empty {
        fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl serde::de::Visitor<'_> for Visitor {
                type Value = Empty;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a base64 string")
                }
                fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Empty, E> {
                    Ok(Empty(v.is_empty()))
                }
                fn visit_unit<E: serde::de::Error>(self) -> Result<Empty, E> {
                    Ok(Empty(true))
                }
            }
            de.deserialize_any(Visitor)
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub struct PodSpec {
        #[serde(default)]
        pub init_containers: Option<Vec<Container>>,
        #[serde(default, deserialize_with = "nullable")]
        pub containers: Vec<Container>,
        #[serde(default)]
        pub ephemeral_containers: Option<Vec<Container>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Container {
        #[serde(default, deserialize_with = "nullable")]
        pub name: String,
        #[serde(default)]
        pub env: Option<Vec<EnvVar>>,
        #[serde(default)]
        pub env_from: Option<Vec<EnvFromSource>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EnvVar {
        #[serde(default, deserialize_with = "nullable")]
        pub name: String,
        #[serde(default)]
        pub value: Option<String>,
        #[serde(default)]
        pub value_from: Option<EnvVarSource>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EnvVarSource {
        #[serde(default)]
        pub config_map_key_ref: Option<KeySelector>,
    }

    #[derive(Deserialize)]
    pub struct KeySelector {
        #[serde(default, deserialize_with = "nullable")]
        pub name: String,
        #[serde(default, deserialize_with = "nullable")]
        pub key: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EnvFromSource {
        #[serde(default)]
        pub config_map_ref: Option<Reference>,
    }

    #[derive(Deserialize)]
    pub struct Reference {
        #[serde(default, deserialize_with = "nullable")]
        pub name: String,
    }
}

#[cfg(test)]
mod tests;
