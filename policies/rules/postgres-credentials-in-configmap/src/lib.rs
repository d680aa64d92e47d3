#![doc = include_str!("../README.md")]

use ws3_credentials::{
    Class, Credential, classify, credential_by_name, is_postgres_image, is_postgres_password_name,
    is_postgres_signal, postgres_credential,
};
use ws3_policy_sdk::Template;
use ws3_policy_sdk::prelude::*;
use ws3_policy_sdk::shape::{ConfigMap, Container, EnvVar, PodSpec};

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
            Some(template) => workload_findings(&template, req, cluster),
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
    credential: Credential,
}

/// The keys of a ConfigMap that hold postgres credentials (see `ws3_credentials`). Generic
/// password names count when the ConfigMap points at postgres, or when `consumer` does (a
/// postgres container loading it). Keys in binaryData are judged by their name only.
fn credential_keys(config_map: &ConfigMap, consumer: bool) -> Vec<CredentialKey<'_>> {
    let data: Vec<(&str, Class)> = config_map
        .data
        .iter()
        .map(|(key, value)| (key.as_str(), classify(value)))
        .collect();
    let postgres = consumer
        || data
            .iter()
            .any(|&(key, class)| is_postgres_signal(key, class));
    let data = data.into_iter().filter_map(|(key, class)| {
        let credential = postgres_credential(key, class, postgres)?;
        Some(CredentialKey {
            field: "data",
            key,
            credential,
        })
    });
    let binary = config_map.binary_data.iter().filter_map(|(key, value)| {
        let credential = credential_by_name(key, postgres).filter(|_| !value.0)?;
        Some(CredentialKey {
            field: "binaryData",
            key,
            credential,
        })
    });
    data.chain(binary).collect()
}

/// What a credential is, for messages: `holder` is what points at postgres when the name alone
/// does not say, `literal` is `"literal "` or empty.
fn describe(credential: Credential, holder: &str, literal: &str) -> String {
    match credential {
        Credential::PostgresPassword => format!("a {literal}postgres password"),
        Credential::Password => format!("a {literal}password, and {holder} points at postgres"),
        Credential::ConnectionString => {
            "a postgres connection string with an inline password".to_owned()
        }
        Credential::UnnamedConnectionString => {
            format!("a connection string with an inline password, and {holder} points at postgres")
        }
    }
}

/// (a) One finding per ConfigMap key holding a credential; the key's value is the secret.
fn config_map_findings(config_map: &ConfigMap) -> Vec<Finding> {
    credential_keys(config_map, false)
        .into_iter()
        .map(|c| {
            let field = if c.field == "data" { "" } else { "binaryData " };
            let what = describe(c.credential, "the configmap", "");
            let path = Path::root().key(c.field).key(c.key);
            PostgresCredentialsInConfigMap::finding(
                format!("configmap {field}key {:?} holds {what}", c.key),
                path.clone(),
                SECRET_HINT,
            )
            .redact(path)
        })
        .collect()
}

/// Whether a container runs a postgres image or its env points at postgres.
fn points_at_postgres(c: &Container) -> bool {
    is_postgres_image(&c.image)
        || c.env
            .iter()
            .any(|v| is_postgres_signal(&v.name, classify(v.literal())))
}

/// The keys, quoted for a message, of the ConfigMap `name` that hold postgres credentials when a
/// container loads it whole (`postgres`: the container points at postgres). Remembered per file
/// set or review: a ConfigMap loaded by a thousand workloads is read and judged once.
fn env_from_credential_keys(
    req: &Request,
    cluster: &dyn Cluster,
    name: &str,
    postgres: bool,
) -> Result<Vec<String>, Error> {
    let namespace = req.namespace.as_str();
    req.memo(&format!("envFrom/{postgres}/{namespace}/{name}"), || {
        let Some(config_map) = cluster.get_as::<ConfigMap>(CONFIG_MAP, namespace, name)? else {
            return Ok(vec![]);
        };
        Ok(credential_keys(&config_map, postgres)
            .iter()
            .map(|k| format!("{:?}", k.key))
            .collect())
    })
}

/// (b) and (c): credentials in env values, configMapKeyRefs and envFrom ConfigMaps.
fn workload_findings(
    template: &Template<PodSpec>,
    req: &Request,
    cluster: &dyn Cluster,
) -> Result<Vec<Finding>, Error> {
    let mut out = Vec::new();
    for at in template.spec.all_containers(&template.spec_path) {
        let postgres = points_at_postgres(at.container);
        let who = at.describe();
        for (path, var) in at.env() {
            out.extend(env_finding(&who, postgres, var, path));
        }
        for (path, reference) in at.env_from_config_maps() {
            let names = env_from_credential_keys(req, cluster, &reference.name, postgres)?;
            if names.is_empty() {
                continue;
            }
            let plural = if names.len() == 1 { "" } else { "s" };
            out.push(PostgresCredentialsInConfigMap::finding(
                format!(
                    "{who} loads configmap {:?} with envFrom, which holds postgres credentials in \
                     key{plural} {}",
                    reference.name,
                    names.join(", ")
                ),
                path,
                "move those keys to a Secret and load it with envFrom.secretRef",
            ));
        }
    }
    Ok(out)
}

/// (b) A credential in one env var: a configMapKeyRef to a credential, a literal password, or a
/// literal connection string with an inline password. `postgres`: the container points at
/// postgres, so generic password names count.
fn env_finding(who: &str, postgres: bool, var: &EnvVar, path: Path) -> Option<Finding> {
    let name = &var.name;
    if let Some(r) = var.config_map_key_ref() {
        let named = is_postgres_password_name(name, postgres)
            || is_postgres_password_name(&r.key, postgres);
        return named.then(|| {
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
    let class = classify(var.literal());
    let credential = postgres_credential(name, class, postgres)?;
    let what = describe(credential, "the container", "literal ");
    let hint = match credential {
        Credential::PostgresPassword | Credential::Password => {
            "take it from a Secret with valueFrom.secretKeyRef (or mount the Secret as a file and \
             use a *_FILE variable)"
        }
        Credential::ConnectionString | Credential::UnnamedConnectionString => {
            "take the password from a Secret with secretKeyRef and write it as $(VAR) in the \
             string, or take the whole string from a Secret"
        }
    };
    let finding = PostgresCredentialsInConfigMap::finding(
        format!("{who} sets env var {name:?} to {what}"),
        path.clone(),
        hint,
    );
    Some(finding.redact(path.key("value")))
}

#[cfg(test)]
mod tests;
