//! `.ws3.yaml`: the configuration shared by `ws3-lint` and `ws3-webhook`.
//!
//! ```yaml
//! # Rules to turn off entirely.
//! disable: [statefulset-headless-service]
//! # Per-rule settings.
//! rules:
//!   namespace-default-deny:
//!     severity: warning        # info | warning | error
//!     mode: warn               # webhook: enforce | warn | off
//!     onError: allow           # webhook: what a module failure means: deny | allow
//!     settings: {}             # passed to the rule as JSON
//! # Extra rule modules: .wasm files or directories, relative to this file.
//! modules: [policies/my-rule.wasm]
//! # Namespaces no rule reviews.
//! exemptNamespaces: [kube-system, kube-public, kube-node-lease]
//! # Namespace of objects that have none (linter).
//! defaultNamespace: default
//! ```

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::types::Severity;

/// The configuration file name looked up from the working directory upward.
pub const FILE_NAME: &str = ".ws3.yaml";

/// Namespaces exempt by default.
pub const DEFAULT_EXEMPT: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// How the webhook applies a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Error findings deny; warnings are returned as admission warnings.
    #[default]
    Enforce,
    /// Every finding is returned as an admission warning; nothing is denied.
    Warn,
    /// The rule does not run.
    Off,
}

/// What a module failure (trap, timeout, invalid result) means at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Deny the request, naming the rule (fail closed).
    #[default]
    Deny,
    /// Allow the request with a warning naming the rule (fail open).
    Allow,
}

/// Settings of one rule.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleConfig {
    /// `false` turns the rule off.
    pub enabled: Option<bool>,
    /// Severity override for every finding of the rule.
    pub severity: Option<Severity>,
    /// Webhook mode.
    pub mode: Option<Mode>,
    /// Webhook failure policy.
    pub on_error: Option<OnError>,
    /// Settings handed to the rule as a JSON object.
    pub settings: Option<serde_json::Value>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Rules turned off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Per-rule settings.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleConfig>,
    /// Extra modules (files or directories).
    #[serde(default)]
    pub modules: Vec<PathBuf>,
    /// Namespaces no rule reviews; `None` means [`DEFAULT_EXEMPT`].
    pub exempt_namespaces: Option<Vec<String>>,
    /// Namespace of objects without one.
    pub default_namespace: Option<String>,
    /// Where the file was read from (relative module paths are resolved against its folder).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid YAML, or an unknown key or bad value.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column, and the key).
        message: String,
    },
}

impl Config {
    /// Parses a configuration from text; `path` is used in messages and to resolve modules.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Invalid {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        };
        for (id, rule) in &config.rules {
            if let Some(settings) = &rule.settings
                && !settings.is_object()
            {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    message: format!("rules.{id}.settings must be a mapping"),
                });
            }
        }
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Finds [`FILE_NAME`] in `start` or the nearest parent folder that has one.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .map(|dir| dir.join(FILE_NAME))
            .find(|p| p.is_file())
    }

    /// The exempt namespaces in force.
    pub fn exempt_namespaces(&self) -> Vec<String> {
        match &self.exempt_namespaces {
            Some(list) => list.clone(),
            None => DEFAULT_EXEMPT.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Module paths resolved against the file's folder.
    pub fn module_paths(&self) -> Vec<PathBuf> {
        let base = self
            .source
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        self.modules
            .iter()
            .map(|m| {
                if m.is_absolute() {
                    m.clone()
                } else {
                    base.join(m)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let text = "disable: [a]\nrules:\n  b:\n    severity: warning\n    mode: warn\n    onError: allow\n    settings: {x: 1}\nmodules: [m.wasm]\nexemptNamespaces: [ops]\ndefaultNamespace: dev\n";
        let c = Config::parse(text, Path::new("/repo/.ws3.yaml")).unwrap();
        assert_eq!(c.disable, vec!["a"]);
        let b = &c.rules["b"];
        assert_eq!(b.severity, Some(Severity::Warning));
        assert_eq!(b.mode, Some(Mode::Warn));
        assert_eq!(b.on_error, Some(OnError::Allow));
        assert_eq!(c.module_paths(), vec![PathBuf::from("/repo/m.wasm")]);
        assert_eq!(c.exempt_namespaces(), vec!["ops"]);
        assert_eq!(c.default_namespace.as_deref(), Some("dev"));
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_file() {
        let err = Config::parse("disabel: [a]\n", Path::new("conf/.ws3.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("disabel"), "{err}");
        assert!(err.contains("conf/.ws3.yaml"), "{err}");
        let err = Config::parse("rules:\n  a:\n    sevrity: error\n", Path::new(".ws3.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sevrity"), "{err}");
    }

    #[test]
    fn defaults_exempt_system_namespaces() {
        let c = Config::parse("", Path::new(".ws3.yaml")).unwrap();
        assert_eq!(
            c.exempt_namespaces(),
            vec!["kube-system", "kube-public", "kube-node-lease"]
        );
    }
}
