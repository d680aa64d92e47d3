//! The rules in force: built-in modules plus the user's, with configuration applied.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
};

use serde::Serialize;

use crate::{
    config::{Config, Mode, OnError},
    engine::Engine,
    error::{LoadError, Origin},
    object::{PodTemplates, is_cluster_scoped, plural},
    rule::Rule,
    types::{Finding, KindRef, Operation, Operations, Severity},
};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// The built-in rule components embedded in this binary: (file stem, bytes).
pub fn builtin_modules() -> &'static [(&'static str, &'static [u8])] {
    builtin::BUILTIN
}

/// A rule with its configuration.
#[derive(Debug, Clone)]
pub struct ConfiguredRule {
    /// The module.
    pub rule: Rule,
    /// Whether it runs (`disable` turns it off).
    pub enabled: bool,
    /// Severity override from configuration.
    pub severity: Option<Severity>,
    /// Webhook mode.
    pub mode: Mode,
    /// Webhook failure policy.
    pub on_error: OnError,
    /// Whether an UPDATE may keep violations the old object already had.
    pub allow_existing_violations: bool,
    /// Namespaces the rule skips: its configured list (else its own default), plus the global
    /// list.
    pub exempt_namespaces: Vec<String>,
    /// Settings as a JSON object.
    pub settings: String,
    /// Whether it is embedded (built-in) or came from a file.
    pub builtin: bool,
}

impl ConfiguredRule {
    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.rule.meta().id
    }

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

    /// Whether the rule skips objects of this (request) namespace.
    pub fn is_exempt(&self, namespace: &str) -> bool {
        !namespace.is_empty() && self.exempt_namespaces.iter().any(|n| n == namespace)
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

/// How to build a rule set besides the configuration file.
#[derive(Debug, Clone, Default)]
pub struct RuleSetOptions {
    /// Leave out the built-in rules (tests and benchmarks that run only their own modules).
    pub without_builtin: bool,
    /// Extra modules (the command line's `--module`).
    pub extra_modules: Vec<PathBuf>,
    /// Rule ids to turn off (the command line's `--disable`).
    pub disabled: Vec<String>,
    /// Namespaces no rule reviews, on top of the configuration's (the webhook's own).
    pub extra_exempt: Vec<String>,
}

/// The rules in force, and which of them judge what.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<ConfiguredRule>,
    pod_templates: PodTemplates,
    /// For each kind an enabled rule reviews: (rule index, operations judged at admission).
    by_kind: HashMap<KindRef, Vec<(usize, Operations)>>,
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
        Self::load_with(
            engine,
            config,
            &RuleSetOptions {
                extra_modules: extra_modules.to_vec(),
                disabled: disabled.to_vec(),
                ..RuleSetOptions::default()
            },
        )
    }

    /// Loads the rules as `options` say and applies the configuration.
    pub fn load_with(
        engine: &Engine,
        config: &Config,
        options: &RuleSetOptions,
    ) -> Result<Self, RuleSetError> {
        let mut rules: Vec<(Rule, bool)> = Vec::new();
        if !options.without_builtin {
            for (name, bytes) in builtin_modules() {
                rules.push((
                    engine.load(bytes, Origin::Builtin((*name).to_owned()))?,
                    true,
                ));
            }
        }
        for path in config.module_paths().iter().chain(&options.extra_modules) {
            for rule in engine.load_path(path)? {
                rules.push((rule, false));
            }
        }
        Self::configure(rules, config, options)
    }

    /// Applies the configuration to rules already loaded: `(rule, built-in)` in order.
    pub fn configure(
        rules: Vec<(Rule, bool)>,
        config: &Config,
        options: &RuleSetOptions,
    ) -> Result<Self, RuleSetError> {
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
        for id in &options.disabled {
            check(id, "--disable")?;
        }
        let global_exempt: Vec<String> = config
            .exempt_namespaces
            .iter()
            .chain(&options.extra_exempt)
            .cloned()
            .collect();
        let rules: Vec<ConfiguredRule> = rules
            .into_iter()
            .map(|(rule, builtin)| {
                let id = &rule.meta().id;
                let cfg = config.rules.get(id).cloned().unwrap_or_default();
                let off = config.disable.contains(id) || options.disabled.contains(id);
                let mut exempt = cfg
                    .exempt_namespaces
                    .clone()
                    .unwrap_or_else(|| rule.meta().exempt_namespaces.clone());
                for ns in &global_exempt {
                    if !exempt.contains(ns) {
                        exempt.push(ns.clone());
                    }
                }
                ConfiguredRule {
                    enabled: !off,
                    severity: cfg.severity,
                    mode: cfg.mode.unwrap_or_default(),
                    on_error: cfg.on_error.unwrap_or_default(),
                    allow_existing_violations: cfg.allow_existing_violations.unwrap_or(true),
                    exempt_namespaces: exempt,
                    settings: cfg
                        .settings
                        .map_or_else(|| "{}".to_owned(), |s| s.to_string()),
                    builtin,
                    rule,
                }
            })
            .collect();
        let pod_templates = config.pod_templates();
        let mut by_kind: HashMap<KindRef, Vec<(usize, Operations)>> = HashMap::new();
        for (i, r) in rules.iter().enumerate().filter(|(_, r)| r.enabled) {
            let meta = r.rule.meta();
            let mut add = |kind: &KindRef, ops: Operations| {
                let list = by_kind.entry(kind.clone()).or_default();
                match list.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, o)) => *o = o.union(ops),
                    None => list.push((i, ops)),
                }
            };
            for scope in &meta.applies_to {
                add(&scope.kind, scope.operations);
            }
            if !meta.workloads.is_empty() {
                for holder in pod_templates.holders() {
                    add(&holder.kind, meta.workloads);
                }
            }
        }
        Ok(Self {
            rules,
            pod_templates,
            by_kind,
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

    /// A rule by id.
    pub fn get(&self, id: &str) -> Option<&ConfiguredRule> {
        self.rules.iter().find(|r| r.rule.meta().id == id)
    }

    /// The pod-template holders in force.
    pub fn pod_templates(&self) -> &PodTemplates {
        &self.pod_templates
    }

    /// The enabled rules that judge objects of `kind` for `operation` ([`Operation::Lint`]: every
    /// rule that reviews the kind), whatever the namespace, in rule order.
    pub fn for_kind<'a>(
        &'a self,
        kind: &KindRef,
        operation: Operation,
    ) -> impl Iterator<Item = &'a ConfiguredRule> + 'a {
        self.by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .filter(move |(_, ops)| ops.contains(operation))
            .map(|(i, _)| &self.rules[*i])
    }

    /// [`RuleSet::for_kind`] without the rules that exempt `namespace`.
    pub fn select<'a>(
        &'a self,
        kind: &KindRef,
        operation: Operation,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a ConfiguredRule> + 'a {
        self.for_kind(kind, operation)
            .filter(move |r| !r.is_exempt(namespace))
    }

    /// Whether any enabled rule reviews objects of `kind` (offline or at admission).
    pub fn reviews(&self, kind: &KindRef) -> bool {
        self.by_kind.contains_key(kind)
    }

    /// Whether an object whose controller is of kind `controller` is left alone: its controller
    /// is reviewed by ws3 itself (a Pod of a ReplicaSet of a Deployment), so judging the object
    /// too would judge the same template twice. An object made by anything else (an operator's
    /// custom resource) is judged.
    pub fn skips_controlled(&self, controller: Option<&KindRef>) -> bool {
        controller.is_some_and(|kind| self.reviews(kind))
    }

    /// The admission registration the rules in force ask for: which resources and operations a
    /// ValidatingWebhookConfiguration must send (entries grouped by API group, version,
    /// operations and scope, as `ws3-webhook registration` prints them), the kinds ws3 reviews
    /// (an object whose controller is one of these is not sent), and the operations judged on
    /// pod-template holders (for holders the chart's configuration adds).
    pub fn registration(&self) -> Registration {
        type Group = (String, Vec<String>, Operations, &'static str);
        let mut groups: BTreeMap<Group, Vec<String>> = BTreeMap::new();
        for (kind, rules) in &self.by_kind {
            let operations = rules
                .iter()
                .map(|(_, ops)| *ops)
                .fold(Operations::NONE, Operations::union);
            if operations.is_empty() {
                continue;
            }
            let (resource, versions) = self.resource_of(kind);
            let scope = if is_cluster_scoped(kind) {
                "Cluster"
            } else {
                "Namespaced"
            };
            groups
                .entry((kind.group.clone(), versions, operations, scope))
                .or_default()
                .push(resource);
        }
        let mut rules: Vec<RegistrationRule> = groups
            .into_iter()
            .map(|((group, versions, operations, scope), mut resources)| {
                resources.sort();
                resources.dedup();
                RegistrationRule {
                    api_groups: vec![group],
                    api_versions: versions,
                    resources,
                    operations,
                    scope,
                }
            })
            .collect();
        rules.sort_by(|a, b| (&a.api_groups, &a.resources).cmp(&(&b.api_groups, &b.resources)));
        let mut reviewed_kinds: Vec<KindRef> = self.by_kind.keys().cloned().collect();
        reviewed_kinds.sort();
        let workload_operations = self
            .enabled()
            .map(|r| r.rule.meta().workloads)
            .fold(Operations::NONE, Operations::union);
        Registration {
            rules,
            reviewed_kinds,
            workload_operations,
        }
    }

    fn resource_of(&self, kind: &KindRef) -> (String, Vec<String>) {
        if let Some(holder) = self.pod_templates.holder(kind) {
            return (holder.resource.clone(), holder.versions.clone());
        }
        let version = match kind.group.as_str() {
            ""
            | "apps"
            | "batch"
            | "networking.k8s.io"
            | "policy"
            | "rbac.authorization.k8s.io"
            | "storage.k8s.io" => "v1",
            _ => "*",
        };
        (plural(&kind.kind), vec![version.to_owned()])
    }
}

/// What a ValidatingWebhookConfiguration must register for the rules in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The webhook's `rules`.
    pub rules: Vec<RegistrationRule>,
    /// Kinds ws3 reviews: an object whose controller is one of these is not sent.
    pub reviewed_kinds: Vec<KindRef>,
    /// Operations judged on every pod-template holder (to register configured holders).
    pub workload_operations: Operations,
}

/// One entry of a ValidatingWebhookConfiguration's `rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationRule {
    /// API groups.
    pub api_groups: Vec<String>,
    /// API versions.
    pub api_versions: Vec<String>,
    /// Resources (plural names).
    pub resources: Vec<String>,
    /// Operations.
    pub operations: Operations,
    /// `Namespaced` or `Cluster`.
    pub scope: &'static str,
}
