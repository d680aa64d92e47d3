//! `.ws3.yaml`: the configuration shared by `ws3-lint` and `ws3-webhook`.
//!
//! ```yaml
//! # Rules to turn off entirely (the one way to turn a rule off; also `--disable`).
//! disable: [statefulset-headless-service]
//! # Per-rule settings.
//! rules:
//!   namespace-default-deny:
//!     severity: warning              # info | warning | error
//!     mode: warn                     # webhook: enforce | warn
//!     onError: allow                 # webhook: what a module failure means: deny | allow
//!     allowExistingViolations: true  # webhook: an UPDATE that keeps an old violation is allowed
//!     exemptNamespaces: [kube-system] # replaces the rule's own default list
//!     settings: {}                   # passed to the rule as JSON
//! # Extra rule modules: .wasm files or directories, relative to this file.
//! modules: [policies/my-rule.wasm]
//! # Namespaces no rule reviews (added to each rule's own list).
//! exemptNamespaces: [scratch]
//! # Namespace of objects that have none (linter).
//! defaultNamespace: default
//! # Kinds that hold a pod template, besides the built-in workload kinds.
//! podTemplates:
//!   - {apiVersion: argoproj.io/v1alpha1, kind: Rollout, path: spec.template}
//! ```

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{
    object::{PodTemplateHolder, PodTemplates, plural},
    types::{KindRef, Severity},
};

/// The configuration file name looked up from the working directory upward.
pub const FILE_NAME: &str = ".ws3.yaml";

/// How the webhook applies a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Error findings deny; warnings are returned as admission warnings.
    #[default]
    Enforce,
    /// Every finding is returned as an admission warning; nothing is denied.
    Warn,
}

/// `mode` as written; `off` is refused with a pointer to `disable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ModeSetting {
    Enforce,
    Warn,
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleConfig {
    /// Severity override for every finding of the rule.
    pub severity: Option<Severity>,
    /// Webhook mode.
    pub mode: Option<Mode>,
    /// Webhook failure policy.
    pub on_error: Option<OnError>,
    /// Whether an UPDATE may keep a violation the old object already had (default true).
    pub allow_existing_violations: Option<bool>,
    /// Namespaces the rule skips, replacing the rule's own default list.
    pub exempt_namespaces: Option<Vec<String>>,
    /// Settings handed to the rule as a JSON object.
    pub settings: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleConfigFile {
    severity: Option<Severity>,
    mode: Option<ModeSetting>,
    on_error: Option<OnError>,
    allow_existing_violations: Option<bool>,
    exempt_namespaces: Option<Vec<String>>,
    settings: Option<serde_json::Value>,
    /// Gone: `disable` is the one way to turn a rule off.
    enabled: Option<serde::de::IgnoredAny>,
}

/// A kind that holds a pod template, from `podTemplates`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodTemplateConfig {
    /// `apiVersion` of the kind, e.g. `argoproj.io/v1alpha1`.
    pub api_version: String,
    /// Kind, e.g. `Rollout`.
    pub kind: String,
    /// JSON path of the pod template, e.g. `spec.template`.
    pub path: String,
    /// The resource (plural) the API serves, for webhook registration; default: the kind in
    /// lowercase with `s` added.
    pub resource: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Rules turned off.
    pub disable: Vec<String>,
    /// Per-rule settings.
    pub rules: BTreeMap<String, RuleConfig>,
    /// Extra modules (files or directories).
    pub modules: Vec<PathBuf>,
    /// Namespaces no rule reviews (added to every rule's own list).
    pub exempt_namespaces: Vec<String>,
    /// Namespace of objects without one.
    pub default_namespace: Option<String>,
    /// Extra pod-template holders.
    pub pod_templates: Vec<PodTemplateConfig>,
    /// Where the file was read from (relative module paths are resolved against its folder).
    pub source: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    rules: BTreeMap<String, RuleConfigFile>,
    #[serde(default)]
    modules: Vec<PathBuf>,
    #[serde(default)]
    exempt_namespaces: Vec<String>,
    default_namespace: Option<String>,
    #[serde(default)]
    pod_templates: Vec<PodTemplateConfig>,
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
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        let mut rules = BTreeMap::new();
        for (id, rule) in file.rules {
            if rule.enabled.is_some() {
                return Err(invalid(format!(
                    "rules.{id}.enabled is not a setting: to turn the rule off, list it under `disable:`"
                )));
            }
            let mode = match rule.mode {
                None => None,
                Some(ModeSetting::Enforce) => Some(Mode::Enforce),
                Some(ModeSetting::Warn) => Some(Mode::Warn),
                Some(ModeSetting::Off) => {
                    return Err(invalid(format!(
                        "rules.{id}.mode: off is not a mode (enforce | warn): to turn the rule off, list it under `disable:`"
                    )));
                }
            };
            if let Some(settings) = &rule.settings
                && !settings.is_object()
            {
                return Err(invalid(format!("rules.{id}.settings must be a mapping")));
            }
            rules.insert(
                id,
                RuleConfig {
                    severity: rule.severity,
                    mode,
                    on_error: rule.on_error,
                    allow_existing_violations: rule.allow_existing_violations,
                    exempt_namespaces: rule.exempt_namespaces,
                    settings: rule.settings,
                },
            );
        }
        for (i, t) in file.pod_templates.iter().enumerate() {
            let ok = !t.kind.is_empty()
                && !t.api_version.is_empty()
                && crate::path::parse(&t.path).is_ok_and(|p| !p.is_empty());
            if !ok {
                return Err(invalid(format!(
                    "podTemplates[{i}] needs apiVersion, kind and a path such as spec.template"
                )));
            }
        }
        Ok(Self {
            disable: file.disable,
            rules,
            modules: file.modules,
            exempt_namespaces: file.exempt_namespaces,
            default_namespace: file.default_namespace,
            pod_templates: file.pod_templates,
            source: Some(path.to_owned()),
        })
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        // Only a regular file, at most 16 MiB: a FIFO or a device given as `--config` is an
        // error, never a blocking or endless read.
        let bytes =
            crate::files::read_regular_file(path, crate::files::MAX_FILE_BYTES).map_err(io)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            ))
        })?;
        Self::parse(&text, path)
    }

    /// Finds [`FILE_NAME`] in `start` or the nearest parent folder that has one, without
    /// leaving the repository `start` is in: the search stops at the nearest folder with a
    /// `.git` entry (a directory, or a file as in worktrees and submodules), so a stray
    /// `.ws3.yaml` above the repository never applies. Outside any repository every parent is
    /// searched. A `.ws3.yaml` that is not a regular file is returned too, so that loading it
    /// reports it rather than the search silently passing it by.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        for dir in start.ancestors() {
            let candidate = dir.join(FILE_NAME);
            if candidate.symlink_metadata().is_ok() {
                return Some(candidate);
            }
            if dir.join(".git").symlink_metadata().is_ok() {
                return None;
            }
        }
        None
    }

    /// The pod-template holders: built-in ones and `podTemplates`.
    pub fn pod_templates(&self) -> PodTemplates {
        PodTemplates::with(self.pod_templates.iter().map(|t| {
            let kind = KindRef::from_type(&t.api_version, &t.kind);
            let version = t
                .api_version
                .rsplit_once('/')
                .map_or(t.api_version.as_str(), |(_, v)| v);
            PodTemplateHolder {
                resource: t.resource.clone().unwrap_or_else(|| plural(&t.kind)),
                versions: vec![version.to_owned()],
                path: t.path.clone(),
                kind,
            }
        }))
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
        let text = "disable: [a]\nrules:\n  b:\n    severity: warning\n    mode: warn\n    onError: allow\n    allowExistingViolations: false\n    exemptNamespaces: [x]\n    settings: {x: 1}\nmodules: [m.wasm]\nexemptNamespaces: [ops]\ndefaultNamespace: dev\npodTemplates:\n- {apiVersion: argoproj.io/v1alpha1, kind: Rollout, path: spec.template}\n";
        let c = Config::parse(text, Path::new("/repo/.ws3.yaml")).unwrap();
        assert_eq!(c.disable, vec!["a"]);
        let b = &c.rules["b"];
        assert_eq!(b.severity, Some(Severity::Warning));
        assert_eq!(b.mode, Some(Mode::Warn));
        assert_eq!(b.on_error, Some(OnError::Allow));
        assert_eq!(b.allow_existing_violations, Some(false));
        assert_eq!(b.exempt_namespaces.as_deref(), Some(&["x".to_owned()][..]));
        assert_eq!(c.module_paths(), vec![PathBuf::from("/repo/m.wasm")]);
        assert_eq!(c.exempt_namespaces, vec!["ops"]);
        assert_eq!(c.default_namespace.as_deref(), Some("dev"));
        let rollout = KindRef::new("argoproj.io", "Rollout");
        let templates = c.pod_templates();
        assert_eq!(templates.path_of(&rollout), Some("spec.template"));
        assert_eq!(
            templates
                .holder(&rollout)
                .map(|h| (h.resource.as_str(), h.versions.clone())),
            Some(("rollouts", vec!["v1alpha1".to_owned()]))
        );
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
    fn there_is_one_way_to_turn_a_rule_off() {
        for text in [
            "rules:\n  a:\n    enabled: false\n",
            "rules:\n  a:\n    mode: off\n",
        ] {
            let err = Config::parse(text, Path::new(".ws3.yaml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("disable:"), "{err}");
        }
        let err = Config::parse(
            "podTemplates:\n- {apiVersion: v1, kind: X, path: ''}\n",
            Path::new(".ws3.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("podTemplates[0]"), "{err}");
    }

    #[test]
    fn no_namespace_is_exempt_for_every_rule_by_default() {
        let c = Config::parse("", Path::new(".ws3.yaml")).unwrap();
        assert!(c.exempt_namespaces.is_empty());
    }

    #[test]
    fn discovery_stops_at_the_repository_root() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path();
        let repo = outer.join("repo");
        let sub = repo.join("k8s/base");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(outer.join(FILE_NAME), "disable: [x]\n").unwrap();
        // Outside a repository, parents are searched.
        assert_eq!(Config::discover(&sub), Some(outer.join(FILE_NAME)));
        // The stray file above the repository never applies, whether `.git` is a directory or
        // a file (a worktree, a submodule).
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(Config::discover(&sub), None);
        std::fs::remove_dir(repo.join(".git")).unwrap();
        std::fs::write(repo.join(".git"), "gitdir: ../.git/worktrees/repo\n").unwrap();
        assert_eq!(Config::discover(&sub), None);
        // Inside the repository, the nearest one wins; the root's own counts.
        std::fs::write(repo.join(FILE_NAME), "").unwrap();
        assert_eq!(Config::discover(&sub), Some(repo.join(FILE_NAME)));
        std::fs::write(sub.join(FILE_NAME), "").unwrap();
        assert_eq!(Config::discover(&sub), Some(sub.join(FILE_NAME)));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_as_the_configuration_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        );
        assert_eq!(Config::discover(dir.path()), Some(path.clone()));
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains(".ws3.yaml: a FIFO is not read"), "{err}");
    }
}
