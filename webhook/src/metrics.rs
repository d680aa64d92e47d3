//! Prometheus metrics, kept by `prometheus-client` and exposed in the OpenMetrics text format.
//!
//! - `ws3_admission_requests_total{kind,operation,decision}`: reviews answered; decision is
//!   `allowed`, `denied` or `invalid` (a body that could not be read).
//! - `ws3_admission_request_duration_seconds`: histogram of review latency in the handler.
//! - `ws3_admission_in_flight`: reviews being answered now.
//! - `ws3_evaluation_offloads_total`: times a slow evaluation moved evaluations from the runtime
//!   workers to blocking threads (see `api::placement`).
//! - `ws3_findings_total{rule,action}`: findings by rule; action is `deny`, `warn`, `suppressed` or `existing` (an UPDATE kept a violation the object already had).
//! - `ws3_rule_errors_total{rule}`: module failures (trap, timeout, memory, invalid result).
//! - `ws3_rule_evaluation_seconds{rule}`: histogram of one module evaluation.
//! - `ws3_cache_synced{resource}`: 1 once the watch cache of that resource has synced.
//! - `ws3_modules_ready`, `ws3_ready`: module compilation done; ready to serve.
//!
//! Every label takes its values from a set fixed when the rules are loaded, never from a request:
//! `kind` is a kind some loaded rule reviews ([`Metrics::register_kinds`]) or `other`,
//! `operation` is `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `other`, `rule` is a loaded rule's id
//! ([`Metrics::register_rules`]; anything else is not counted). However odd the requests, the
//! number of series, and the memory they take, stay bounded.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label value of a kind no loaded rule reviews, and of an unknown operation.
pub const OTHER: &str = "other";

/// What a finding did to the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingAction {
    /// Denied it.
    Deny,
    /// Became a warning.
    Warn,
    /// Suppressed by annotation.
    Suppressed,
    /// An existing violation on UPDATE: became a warning.
    Existing,
}

impl FindingAction {
    const ALL: [Self; 4] = [Self::Deny, Self::Warn, Self::Suppressed, Self::Existing];

    fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Warn => "warn",
            Self::Suppressed => "suppressed",
            Self::Existing => "existing",
        }
    }
}

/// The watched resources, in the order of [`Metrics::set_cache_synced`]'s series.
pub const RESOURCES: [&str; 5] = [
    "namespaces",
    "networkpolicies",
    "services",
    "configmaps",
    "statefulsets",
];

/// A label value from a fixed set of strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Static(&'static str);

impl EncodeLabelValue for Static {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0, encoder)
    }
}

/// The operations of an admission review, as label values; the last is `other`.
const OPERATIONS: [&str; 5] = ["CREATE", "UPDATE", "DELETE", "CONNECT", OTHER];

/// The decisions, as label values; the last is `other`.
const DECISIONS: [&str; 4] = ["allowed", "denied", "invalid", OTHER];

/// Index of `value` in `set`, or of its last entry (`other`).
fn bounded(set: &[&'static str], value: &str) -> usize {
    set.iter()
        .position(|s| *s == value)
        .unwrap_or(set.len() - 1)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    kind: Arc<str>,
    operation: Static,
    decision: Static,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FindingLabels {
    rule: Arc<str>,
    action: Static,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RuleLabels {
    rule: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabels {
    resource: Static,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// `ws3_admission_requests_total` series of one kind label, created on first use.
#[derive(Debug)]
struct KindSeries {
    /// The label value.
    kind: Arc<str>,
    /// By operation, then decision.
    counters: [[OnceLock<Counter>; DECISIONS.len()]; OPERATIONS.len()],
}

impl KindSeries {
    fn new(kind: Arc<str>) -> Self {
        Self {
            kind,
            counters: Default::default(),
        }
    }
}

/// The request counters: one entry per reviewed (group, kind), and `other` for the rest.
/// Found without allocating or locking: this runs once per review.
#[derive(Debug)]
struct RequestSeries {
    kinds: Vec<(Box<str>, Box<str>, KindSeries)>,
    other: KindSeries,
}

impl RequestSeries {
    fn of(&self, group: &str, kind: &str) -> &KindSeries {
        self.kinds
            .iter()
            .find(|(g, k, _)| **k == *kind && **g == *group)
            .map_or(&self.other, |(_, _, series)| series)
    }
}

/// Per-rule series, created once for the loaded rules.
#[derive(Debug)]
struct RuleSeries {
    findings: [Counter; FindingAction::ALL.len()],
    errors: Counter,
    evaluation: Histogram,
}

/// All metrics of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_series: OnceLock<RequestSeries>,
    latency: Histogram,
    in_flight: Gauge,
    offloads: Counter,
    findings: Family<FindingLabels, Counter>,
    rule_errors: Family<RuleLabels, Counter>,
    rule_evaluation: Family<RuleLabels, Histogram, fn() -> Histogram>,
    rules: OnceLock<BTreeMap<String, RuleSeries>>,
    cache_synced: [Gauge; RESOURCES.len()],
    modules_ready: Gauge,
    ready: Gauge,
    shutting_down: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics; rules and the kinds they review are registered once their modules are
    /// loaded.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "ws3_admission_requests",
            "Admission reviews answered",
            requests.clone(),
        );
        let latency = histogram();
        registry.register(
            "ws3_admission_request_duration_seconds",
            "Time to answer one admission review",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "ws3_admission_in_flight",
            "Admission reviews being answered",
            in_flight.clone(),
        );
        let offloads = Counter::default();
        registry.register(
            "ws3_evaluation_offloads",
            "Times a slow evaluation moved evaluations to blocking threads",
            offloads.clone(),
        );
        let findings = Family::<FindingLabels, Counter>::default();
        registry.register(
            "ws3_findings",
            "Findings by rule and what they did to the review",
            findings.clone(),
        );
        let rule_errors = Family::<RuleLabels, Counter>::default();
        registry.register(
            "ws3_rule_errors",
            "Rule module failures (trap, timeout, memory, invalid result)",
            rule_errors.clone(),
        );
        let rule_evaluation =
            Family::<RuleLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        registry.register(
            "ws3_rule_evaluation_seconds",
            "Time of one rule module evaluation",
            rule_evaluation.clone(),
        );
        let synced = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "ws3_cache_synced",
            "Whether the watch cache of a resource has synced",
            synced.clone(),
        );
        let cache_synced = RESOURCES.map(|resource| {
            synced.get_or_create_owned(&ResourceLabels {
                resource: Static(resource),
            })
        });
        let modules_ready = Gauge::default();
        registry.register(
            "ws3_modules_ready",
            "Whether the rule modules are compiled",
            modules_ready.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ws3_ready",
            "Whether the webhook is ready (modules compiled, caches synced)",
            ready.clone(),
        );
        Self {
            registry,
            requests,
            request_series: OnceLock::new(),
            latency,
            in_flight,
            offloads,
            findings,
            rule_errors,
            rule_evaluation,
            rules: OnceLock::new(),
            cache_synced,
            modules_ready,
            ready,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Creates the per-rule series for these rule ids (only the first call has an effect);
    /// findings and errors of any other id are not counted.
    pub fn register_rules<'a>(&self, rule_ids: impl IntoIterator<Item = &'a str>) {
        if self.rules.get().is_some() {
            return;
        }
        let rules = rule_ids
            .into_iter()
            .map(|id| {
                let rule: Arc<str> = id.into();
                let finding = |action: FindingAction| {
                    self.findings.get_or_create_owned(&FindingLabels {
                        rule: Arc::clone(&rule),
                        action: Static(action.as_str()),
                    })
                };
                let labels = RuleLabels {
                    rule: Arc::clone(&rule),
                };
                let series = RuleSeries {
                    findings: FindingAction::ALL.map(finding),
                    errors: self.rule_errors.get_or_create_owned(&labels),
                    evaluation: self.rule_evaluation.get_or_create_owned(&labels),
                };
                (id.to_owned(), series)
            })
            .collect();
        let _ = self.rules.set(rules);
    }

    /// Sets the kinds, as (API group, kind), whose reviews are counted under their own `kind`
    /// label. Only the first call has an effect, and only before the first review is counted.
    /// Reviews of any other kind count as `other`.
    pub fn register_kinds<'a>(&self, kinds: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if self.request_series.get().is_some() {
            return;
        }
        let mut seen: Vec<(Box<str>, Box<str>, KindSeries)> = Vec::new();
        for (group, kind) in kinds {
            if !seen.iter().any(|(g, k, _)| **g == *group && **k == *kind) {
                seen.push((group.into(), kind.into(), KindSeries::new(kind.into())));
            }
        }
        let _ = self.request_series.set(RequestSeries {
            kinds: seen,
            other: KindSeries::new(OTHER.into()),
        });
    }

    fn rule(&self, id: &str) -> Option<&RuleSeries> {
        self.rules.get().and_then(|r| r.get(id))
    }

    /// Counts one answered review of `group`/`kind`: `decision` is `allowed`, `denied` or
    /// `invalid`. Unregistered kinds and unknown operations count as `other`.
    pub fn review(
        &self,
        group: &str,
        kind: &str,
        operation: &str,
        decision: &str,
        latency: Duration,
    ) {
        self.latency.observe(latency.as_secs_f64());
        let table = self.request_series.get_or_init(|| RequestSeries {
            kinds: Vec::new(),
            other: KindSeries::new(OTHER.into()),
        });
        let series = table.of(group, kind);
        let (op, decision) = (
            bounded(&OPERATIONS, operation),
            bounded(&DECISIONS, decision),
        );
        series.counters[op][decision]
            .get_or_init(|| {
                self.requests.get_or_create_owned(&RequestLabels {
                    kind: Arc::clone(&series.kind),
                    operation: Static(OPERATIONS[op]),
                    decision: Static(DECISIONS[decision]),
                })
            })
            .inc();
    }

    /// Counts a request that is not a readable review (`decision="invalid"`, kind and operation
    /// `other`).
    pub fn invalid(&self, latency: Duration) {
        self.review("", "", "", "invalid", latency);
    }

    /// Marks a review as in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Counts a move of evaluations to blocking threads.
    pub fn offload(&self) {
        self.offloads.inc();
    }

    /// Reviews being answered now.
    pub fn in_flight_now(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts one finding of a loaded rule.
    pub fn finding(&self, rule: &str, action: FindingAction) {
        if let Some(m) = self.rule(rule) {
            let i = FindingAction::ALL
                .iter()
                .position(|a| *a == action)
                .unwrap_or(0);
            m.findings[i].inc();
        }
    }

    /// Records one module evaluation of a loaded rule and whether it failed.
    pub fn evaluation(&self, rule: &str, took: Duration, failed: bool) {
        if let Some(m) = self.rule(rule) {
            m.evaluation.observe(took.as_secs_f64());
            if failed {
                m.errors.inc();
            }
        }
    }

    /// Counts a rule that could not run at all (no slot or no time left before the deadline).
    pub fn rule_error(&self, rule: &str) {
        if let Some(m) = self.rule(rule) {
            m.errors.inc();
        }
    }

    /// Marks the cache of `resource` (one of [`RESOURCES`]) as synced.
    pub fn set_cache_synced(&self, resource: &str, synced: bool) {
        if let Some(i) = RESOURCES.iter().position(|r| *r == resource) {
            self.cache_synced[i].set(i64::from(synced));
        }
    }

    /// Whether every watched resource has synced.
    pub fn caches_synced(&self) -> bool {
        self.cache_synced.iter().all(|s| s.get() == 1)
    }

    /// Marks the rule modules as compiled.
    pub fn set_modules_ready(&self) {
        self.modules_ready.set(1);
    }

    /// Whether the rule modules are compiled.
    pub fn modules_ready(&self) -> bool {
        self.modules_ready.get() == 1
    }

    /// Marks the process as draining: `/readyz` fails from now on.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Whether the process is draining.
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Whether the webhook is ready to serve.
    pub fn ready(&self) -> bool {
        self.modules_ready() && self.caches_synced() && !self.shutting_down()
    }

    /// The resources whose caches have not synced yet.
    pub fn unsynced(&self) -> Vec<&'static str> {
        RESOURCES
            .iter()
            .zip(&self.cache_synced)
            .filter(|(_, s)| s.get() != 1)
            .map(|(r, _)| *r)
            .collect()
    }

    /// The OpenMetrics text exposition ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        self.ready.set(i64::from(self.ready()));
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// A review in flight; counted until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::new();
        m.register_rules(["rule-a"]);
        m.register_kinds([("apps", "StatefulSet")]);
        m.review(
            "apps",
            "StatefulSet",
            "CREATE",
            "denied",
            Duration::from_micros(300),
        );
        m.review(
            "apps",
            "StatefulSet",
            "CREATE",
            "denied",
            Duration::from_millis(3),
        );
        m.finding("rule-a", FindingAction::Deny);
        m.finding("unknown", FindingAction::Deny);
        m.evaluation("rule-a", Duration::from_micros(40), false);
        m.set_cache_synced("services", true);
        let text = m.render();
        assert!(text.contains("ws3_admission_requests_total{kind=\"StatefulSet\",operation=\"CREATE\",decision=\"denied\"} 2"), "{text}");
        assert!(
            text.contains("ws3_admission_request_duration_seconds_bucket{le=\"0.0005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ws3_admission_request_duration_seconds_bucket{le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ws3_admission_request_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("ws3_findings_total{rule=\"rule-a\",action=\"deny\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ws3_findings_total{rule=\"rule-a\",action=\"warn\"} 0"),
            "{text}"
        );
        assert!(!text.contains("unknown"), "{text}");
        assert!(
            text.contains("ws3_rule_evaluation_seconds_bucket{le=\"0.0001\",rule=\"rule-a\"} 1")
                || text.contains(
                    "ws3_rule_evaluation_seconds_bucket{rule=\"rule-a\",le=\"0.0001\"} 1"
                ),
            "{text}"
        );
        assert!(
            text.contains("ws3_rule_errors_total{rule=\"rule-a\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("ws3_cache_synced{resource=\"services\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ws3_cache_synced{resource=\"configmaps\"} 0"),
            "{text}"
        );
        assert!(text.contains("ws3_ready 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let guard = m.in_flight();
        assert!(m.render().contains("ws3_admission_in_flight 1"));
        drop(guard);
        assert!(m.render().contains("ws3_admission_in_flight 0"));
        assert!(!m.ready());
        m.set_modules_ready();
        for r in RESOURCES {
            m.set_cache_synced(r, true);
        }
        assert!(m.ready());
        assert!(m.render().contains("ws3_ready 1"));
        m.set_shutting_down();
        assert!(m.render().contains("ws3_ready 0"));
    }

    #[test]
    fn labels_take_only_registered_values() {
        let m = Metrics::new();
        m.register_rules(["rule-a"]);
        m.register_kinds([("apps", "StatefulSet"), ("", "ConfigMap")]);
        // A second registration changes nothing.
        m.register_kinds([("", "Secret")]);
        m.register_rules(["rule-b"]);
        for i in 0..1000 {
            let kind = format!("Kind{i}\"\n");
            let operation = format!("OP{i}");
            m.review("example.com", &kind, &operation, "allowed", Duration::ZERO);
            m.review("", "Secret", "CREATE", "allowed", Duration::ZERO);
            // Same kind name, another group: not a reviewed kind.
            m.review(
                "example.com",
                "StatefulSet",
                "CREATE",
                "odd",
                Duration::ZERO,
            );
            m.finding(&format!("rule-{i}"), FindingAction::Warn);
            m.rule_error(&format!("rule-{i}"));
        }
        m.review("", "ConfigMap", "UPDATE", "denied", Duration::ZERO);
        m.invalid(Duration::ZERO);
        let text = m.render();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("ws3_admission_requests_total"))
            .collect();
        assert_eq!(series.len(), 5, "{text}");
        for expected in [
            "ws3_admission_requests_total{kind=\"other\",operation=\"other\",decision=\"allowed\"} 1000",
            "ws3_admission_requests_total{kind=\"other\",operation=\"CREATE\",decision=\"allowed\"} 1000",
            "ws3_admission_requests_total{kind=\"other\",operation=\"CREATE\",decision=\"other\"} 1000",
            "ws3_admission_requests_total{kind=\"ConfigMap\",operation=\"UPDATE\",decision=\"denied\"} 1",
            "ws3_admission_requests_total{kind=\"other\",operation=\"other\",decision=\"invalid\"} 1",
        ] {
            assert!(series.contains(&expected), "{expected}: {text}");
        }
        assert!(
            !text.contains("rule-b") && !text.contains("rule-1\""),
            "{text}"
        );
        assert!(
            text.contains("ws3_findings_total{rule=\"rule-a\",action=\"warn\"} 0"),
            "{text}"
        );
    }
}
