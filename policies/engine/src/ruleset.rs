//! The rules in force: built-in modules plus the user's, with configuration applied.

use std::path::PathBuf;

use crate::{
    config::{Config, Mode, OnError},
    engine::{Engine, Rule},
    error::{LoadError, Origin},
    host::ObjectSource,
    types::{Finding, KindRef, Severity},
};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// The built-in rule components embedded in this binary: (file stem, bytes).
pub fn builtin_modules() -> &'static [(&'static str, &'static [u8])] {
    builtin::BUILTIN
}

/// The annotation that suppresses findings: `ws3.dev/ignore: "rule-id[,rule-id]"`.
pub const IGNORE_ANNOTATION: &str = "ws3.dev/ignore";

/// Whether an `ws3.dev/ignore` annotation value names this rule. Lenient: ids are separated by
/// commas or spaces, case and surrounding blanks do not matter.
pub fn ignores(annotation: Option<&str>, rule_id: &str) -> bool {
    annotation.is_some_and(|value| {
        value
            .split([',', ' ', '\n'])
            .map(str::trim)
            .any(|id| !id.is_empty() && id.eq_ignore_ascii_case(rule_id))
    })
}

/// The `ws3.dev/ignore` annotation of an object given as JSON, if any.
pub fn ignore_annotation(object_json: &str) -> Option<String> {
    // Most objects have no such annotation: say so without parsing them. The key can only be
    // missing from the text if it is absent or spelled with escapes (`\/`, `\u0077`).
    if !object_json.contains(IGNORE_ANNOTATION)
        && !object_json.contains("\\/")
        && !object_json.contains("\\u")
    {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(default)]
        annotations: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        metadata: Option<Meta>,
    }
    let object: Object = serde_json::from_str(object_json).ok()?;
    match object.metadata?.annotations?.remove(IGNORE_ANNOTATION)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

/// Marks findings suppressed by a `ws3.dev/ignore` annotation. A finding about another object
/// (its `subject`, e.g. the Namespace) honours that object's annotation when `source` has it,
/// and otherwise the reviewed object's; any other finding honours the reviewed object's.
pub fn apply_suppressions(
    findings: &mut [Finding],
    reviewed_annotation: Option<&str>,
    source: &dyn ObjectSource,
) {
    for finding in findings {
        let subject_annotation = finding.subject.as_ref().and_then(|s| {
            let kind = KindRef::from_type(&s.api_version, &s.kind);
            source
                .get(&kind, &s.namespace, &s.name)
                .map(|json| ignore_annotation(&json))
        });
        let annotation = match &subject_annotation {
            Some(found) => found.as_deref(),
            None => reviewed_annotation,
        };
        if ignores(annotation, &finding.rule_id) {
            finding.suppressed = true;
        }
    }
}

/// A rule with its configuration.
#[derive(Debug, Clone)]
pub struct ConfiguredRule {
    /// The module.
    pub rule: Rule,
    /// Whether it runs.
    pub enabled: bool,
    /// Severity override from configuration.
    pub severity: Option<Severity>,
    /// Webhook mode.
    pub mode: Mode,
    /// Webhook failure policy.
    pub on_error: OnError,
    /// Settings as a JSON object.
    pub settings: String,
    /// Whether it is embedded (built-in) or came from a file.
    pub builtin: bool,
}

impl ConfiguredRule {
    /// The severity of every finding when configured, else each finding's own.
    pub fn apply_severity(&self, finding: &mut Finding) {
        if let Some(severity) = self.severity {
            finding.severity = severity;
        }
    }

    /// The severity the rule reports by default, after configuration.
    pub fn effective_severity(&self) -> Severity {
        self.severity.unwrap_or(self.rule.meta().severity)
    }
}

/// A rule set that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    /// A module failed to load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The configuration names a rule that is not loaded.
    #[error("{source_name} names rule `{id}`, which is not loaded (known rules: {known})")]
    UnknownRule {
        /// Where the name comes from.
        source_name: String,
        /// The unknown id.
        id: String,
        /// The ids that are loaded.
        known: String,
    },
}

/// The rules in force.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<ConfiguredRule>,
    exempt_namespaces: Vec<String>,
}

impl RuleSet {
    /// Loads the built-in rules, then `config.modules` and `extra_modules`, and applies the
    /// configuration; `disabled` adds ids to turn off (e.g. from the command line).
    pub fn load(
        engine: &Engine,
        config: &Config,
        extra_modules: &[PathBuf],
        disabled: &[String],
    ) -> Result<Self, RuleSetError> {
        let mut rules: Vec<(Rule, bool)> = Vec::new();
        for (name, bytes) in builtin_modules() {
            rules.push((
                engine.load(bytes, Origin::Builtin((*name).to_owned()))?,
                true,
            ));
        }
        for path in config.module_paths().iter().chain(extra_modules) {
            for rule in engine.load_path(path)? {
                rules.push((rule, false));
            }
        }
        for (i, (rule, _)) in rules.iter().enumerate() {
            if let Some((first, _)) = rules[..i]
                .iter()
                .find(|(r, _)| r.meta().id == rule.meta().id)
            {
                return Err(LoadError::Duplicate {
                    id: rule.meta().id.clone(),
                    first: first.origin().clone(),
                    second: rule.origin().clone(),
                }
                .into());
            }
        }
        let known = || {
            rules
                .iter()
                .map(|(r, _)| r.meta().id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let config_name = config.source.as_ref().map_or_else(
            || "the configuration".to_owned(),
            |p| p.display().to_string(),
        );
        let check = |id: &str, source_name: &str| {
            if rules.iter().any(|(r, _)| r.meta().id == id) {
                Ok(())
            } else {
                Err(RuleSetError::UnknownRule {
                    source_name: source_name.to_owned(),
                    id: id.to_owned(),
                    known: known(),
                })
            }
        };
        for id in config.rules.keys().chain(&config.disable) {
            check(id, &config_name)?;
        }
        for id in disabled {
            check(id, "--disable")?;
        }
        let rules = rules
            .into_iter()
            .map(|(rule, builtin)| {
                let id = &rule.meta().id;
                let cfg = config.rules.get(id).cloned().unwrap_or_default();
                let off = config.disable.contains(id) || disabled.contains(id);
                ConfiguredRule {
                    enabled: !off && cfg.enabled.unwrap_or(true) && cfg.mode != Some(Mode::Off),
                    severity: cfg.severity,
                    mode: cfg.mode.unwrap_or_default(),
                    on_error: cfg.on_error.unwrap_or_default(),
                    settings: cfg
                        .settings
                        .map_or_else(|| "{}".to_owned(), |s| s.to_string()),
                    builtin,
                    rule,
                }
            })
            .collect();
        Ok(Self {
            rules,
            exempt_namespaces: config.exempt_namespaces(),
        })
    }

    /// Every loaded rule, enabled or not.
    pub fn all(&self) -> &[ConfiguredRule] {
        &self.rules
    }

    /// The rules that run.
    pub fn enabled(&self) -> impl Iterator<Item = &ConfiguredRule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// The enabled rules that review this kind.
    pub fn for_kind<'a>(&'a self, kind: &'a KindRef) -> impl Iterator<Item = &'a ConfiguredRule> {
        self.enabled()
            .filter(move |r| r.rule.meta().applies_to(kind))
    }

    /// A rule by id.
    pub fn get(&self, id: &str) -> Option<&ConfiguredRule> {
        self.rules.iter().find(|r| r.rule.meta().id == id)
    }

    /// Whether no rule reviews objects of this namespace.
    pub fn is_exempt(&self, namespace: &str) -> bool {
        self.exempt_namespaces.iter().any(|n| n == namespace)
    }

    /// The exempt namespaces.
    pub fn exempt_namespaces(&self) -> &[String] {
        &self.exempt_namespaces
    }
}

#[cfg(test)]
mod tests {
    use super::{ignore_annotation, ignores};

    #[test]
    fn reads_the_annotation_from_json() {
        let json = r#"{"metadata":{"name":"x","annotations":{"ws3.dev/ignore":"a,b"}}}"#;
        assert_eq!(ignore_annotation(json).as_deref(), Some("a,b"));
        assert_eq!(ignore_annotation(r#"{"metadata":{}}"#), None);
        assert_eq!(ignore_annotation("not json"), None);
        // Escaped spellings of the key are still the key.
        let escaped = r#"{"metadata":{"annotations":{"ws3.dev\/ignore":"a","x":"\u00e9"}}}"#;
        assert_eq!(ignore_annotation(escaped).as_deref(), Some("a"));
        let escaped = r#"{"metadata":{"annotations":{"\u0077s3.dev/ignore":"b"}}}"#;
        assert_eq!(ignore_annotation(escaped).as_deref(), Some("b"));
    }

    #[test]
    fn ignore_annotation_is_parsed_leniently() {
        assert!(ignores(
            Some("statefulset-emptydir-data"),
            "statefulset-emptydir-data"
        ));
        assert!(ignores(
            Some(" a , Statefulset-EmptyDir-Data "),
            "statefulset-emptydir-data"
        ));
        assert!(!ignores(
            Some("statefulset-emptydir"),
            "statefulset-emptydir-data"
        ));
        assert!(!ignores(None, "x"));
    }
}
