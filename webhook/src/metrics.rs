//! Prometheus metrics, kept in atomics and rendered as text exposition format by hand.
//!
//! - `ws3_admission_requests_total{kind,operation,decision}`: reviews answered; decision is
//!   `allowed`, `denied` or `invalid` (a body that could not be read).
//! - `ws3_admission_request_duration_seconds`: histogram of review latency in the handler.
//! - `ws3_admission_in_flight`: reviews being answered now.
//! - `ws3_evaluation_offloads_total`: times a slow evaluation moved evaluations from the runtime
//!   workers to blocking threads (see `api::placement`).
//! - `ws3_findings_total{rule,action}`: findings by rule; action is `deny`, `warn` or `suppressed`.
//! - `ws3_rule_errors_total{rule}`: module failures (trap, timeout, memory, invalid result).
//! - `ws3_rule_evaluation_seconds{rule}`: histogram of one module evaluation.
//! - `ws3_cache_synced{resource}`: 1 once the watch cache of that resource has synced.
//! - `ws3_modules_ready`, `ws3_ready`: module compilation done; ready to serve.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Per-rule counters, created once for the loaded rules.
#[derive(Debug, Default)]
struct RuleMetrics {
    deny: AtomicU64,
    warn: AtomicU64,
    suppressed: AtomicU64,
    errors: AtomicU64,
    evaluation: Histogram,
}

/// What a finding did to the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The watched resources, in the order of [`Metrics::cache_synced`].
pub const RESOURCES: [&str; 5] = [
    "namespaces",
    "networkpolicies",
    "services",
    "configmaps",
    "statefulsets",
];

/// One `ws3_admission_requests_total` series of a kind: operation, decision and count.
type Series = (String, &'static str, u64);

/// All metrics of the process.
#[derive(Debug)]
pub struct Metrics {
    /// Reviews answered, by kind, then by operation and decision (looked up without
    /// allocating: this runs once per review).
    requests: Mutex<HashMap<String, Vec<Series>>>,
    latency: Histogram,
    in_flight: AtomicU64,
    offloads: AtomicU64,
    rules: OnceLock<BTreeMap<String, RuleMetrics>>,
    cache_synced: [AtomicBool; RESOURCES.len()],
    modules_ready: AtomicBool,
    shutting_down: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics; rules are registered once their modules are loaded.
    pub fn new() -> Self {
        Self {
            requests: Mutex::new(HashMap::new()),
            latency: Histogram::default(),
            in_flight: AtomicU64::new(0),
            offloads: AtomicU64::new(0),
            rules: OnceLock::new(),
            cache_synced: Default::default(),
            modules_ready: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Creates the per-rule series for these rule ids (only the first call has an effect).
    pub fn register_rules<'a>(&self, rule_ids: impl IntoIterator<Item = &'a str>) {
        let _ = self.rules.set(
            rule_ids
                .into_iter()
                .map(|id| (id.to_owned(), RuleMetrics::default()))
                .collect(),
        );
    }

    fn rules(&self) -> impl Iterator<Item = (&String, &RuleMetrics)> {
        self.rules.get().into_iter().flatten()
    }

    fn rule(&self, id: &str) -> Option<&RuleMetrics> {
        self.rules.get().and_then(|r| r.get(id))
    }

    /// Counts one answered review.
    pub fn request(&self, kind: &str, operation: &str, decision: &'static str, latency: Duration) {
        self.latency.observe(latency);
        let mut map = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(kind) {
            map.insert(kind.to_owned(), Vec::new());
        }
        let Some(series) = map.get_mut(kind) else {
            return;
        };
        match series
            .iter_mut()
            .find(|(op, d, _)| op == operation && *d == decision)
        {
            Some((_, _, n)) => *n += 1,
            None => series.push((operation.to_owned(), decision, 1)),
        }
    }

    /// Marks a review as in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Counts a move of evaluations to blocking threads.
    pub fn offload(&self) {
        self.offloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Reviews being answered now.
    pub fn in_flight_now(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts one finding.
    pub fn finding(&self, rule: &str, action: FindingAction) {
        if let Some(m) = self.rule(rule) {
            match action {
                FindingAction::Deny => &m.deny,
                FindingAction::Warn | FindingAction::Existing => &m.warn,
                FindingAction::Suppressed => &m.suppressed,
            }
            .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records one module evaluation and whether it failed.
    pub fn evaluation(&self, rule: &str, took: Duration, failed: bool) {
        if let Some(m) = self.rule(rule) {
            m.evaluation.observe(took);
            if failed {
                m.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a rule that could not run at all (no slot or no time left before the deadline).
    pub fn rule_error(&self, rule: &str) {
        if let Some(m) = self.rule(rule) {
            m.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Marks the cache of `resource` (one of [`RESOURCES`]) as synced.
    pub fn set_cache_synced(&self, resource: &str, synced: bool) {
        if let Some(i) = RESOURCES.iter().position(|r| *r == resource) {
            self.cache_synced[i].store(synced, Ordering::Relaxed);
        }
    }

    /// Whether every watched resource has synced.
    pub fn caches_synced(&self) -> bool {
        self.cache_synced.iter().all(|s| s.load(Ordering::Relaxed))
    }

    /// Marks the rule modules as compiled.
    pub fn set_modules_ready(&self) {
        self.modules_ready.store(true, Ordering::Relaxed);
    }

    /// Whether the rule modules are compiled.
    pub fn modules_ready(&self) -> bool {
        self.modules_ready.load(Ordering::Relaxed)
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
            .filter(|(_, s)| !s.load(Ordering::Relaxed))
            .map(|(r, _)| *r)
            .collect()
    }

    /// Total reviews answered so far.
    pub fn requests_total(&self) -> u64 {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .flatten()
            .map(|(_, _, n)| n)
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        out.push_str("# HELP ws3_admission_requests_total Admission reviews answered.\n");
        out.push_str("# TYPE ws3_admission_requests_total counter\n");
        let mut requests: Vec<_> = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .flat_map(|(kind, series)| {
                series
                    .iter()
                    .map(move |(op, decision, n)| ((kind.clone(), op.clone(), *decision), *n))
            })
            .collect();
        requests.sort();
        for ((kind, operation, decision), n) in requests {
            let _ = writeln!(
                out,
                "ws3_admission_requests_total{{kind=\"{}\",operation=\"{}\",decision=\"{decision}\"}} {n}",
                escape(&kind),
                escape(&operation)
            );
        }
        out.push_str(
            "# HELP ws3_admission_request_duration_seconds Time to answer one admission review.\n",
        );
        out.push_str("# TYPE ws3_admission_request_duration_seconds histogram\n");
        self.latency
            .render(&mut out, "ws3_admission_request_duration_seconds", "");

        out.push_str("# HELP ws3_admission_in_flight Admission reviews being answered.\n");
        out.push_str("# TYPE ws3_admission_in_flight gauge\n");
        let _ = writeln!(out, "ws3_admission_in_flight {}", self.in_flight_now());
        out.push_str("# HELP ws3_evaluation_offloads_total Times a slow evaluation moved evaluations to blocking threads.\n");
        out.push_str("# TYPE ws3_evaluation_offloads_total counter\n");
        let _ = writeln!(
            out,
            "ws3_evaluation_offloads_total {}",
            self.offloads.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP ws3_findings_total Findings by rule and what they did to the review.\n",
        );
        out.push_str("# TYPE ws3_findings_total counter\n");
        for (rule, m) in self.rules() {
            for (action, n) in [
                ("deny", &m.deny),
                ("warn", &m.warn),
                ("suppressed", &m.suppressed),
            ] {
                let _ = writeln!(
                    out,
                    "ws3_findings_total{{rule=\"{}\",action=\"{action}\"}} {}",
                    escape(rule),
                    n.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP ws3_rule_errors_total Rule module failures (trap, timeout, memory, invalid result).\n");
        out.push_str("# TYPE ws3_rule_errors_total counter\n");
        for (rule, m) in self.rules() {
            let _ = writeln!(
                out,
                "ws3_rule_errors_total{{rule=\"{}\"}} {}",
                escape(rule),
                m.errors.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP ws3_rule_evaluation_seconds Time of one rule module evaluation.\n");
        out.push_str("# TYPE ws3_rule_evaluation_seconds histogram\n");
        for (rule, m) in self.rules() {
            m.evaluation.render(
                &mut out,
                "ws3_rule_evaluation_seconds",
                &format!("rule=\"{}\"", escape(rule)),
            );
        }
        out.push_str("# HELP ws3_cache_synced Whether the watch cache of a resource has synced.\n");
        out.push_str("# TYPE ws3_cache_synced gauge\n");
        for (resource, synced) in RESOURCES.iter().zip(&self.cache_synced) {
            let _ = writeln!(
                out,
                "ws3_cache_synced{{resource=\"{resource}\"}} {}",
                u8::from(synced.load(Ordering::Relaxed))
            );
        }
        out.push_str("# HELP ws3_modules_ready Whether the rule modules are compiled.\n");
        out.push_str("# TYPE ws3_modules_ready gauge\n");
        let _ = writeln!(out, "ws3_modules_ready {}", u8::from(self.modules_ready()));
        out.push_str(
            "# HELP ws3_ready Whether the webhook is ready (modules compiled, caches synced).\n",
        );
        out.push_str("# TYPE ws3_ready gauge\n");
        let _ = writeln!(out, "ws3_ready {}", u8::from(self.ready()));
        out
    }
}

/// A review in flight; counted until dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Escapes a label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::new();
        m.register_rules(["rule-a"]);
        m.request(
            "StatefulSet",
            "CREATE",
            "denied",
            Duration::from_micros(300),
        );
        m.request("StatefulSet", "CREATE", "denied", Duration::from_millis(3));
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
            text.contains("ws3_rule_evaluation_seconds_bucket{rule=\"rule-a\",le=\"0.0001\"} 1"),
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
        let guard = m.in_flight();
        assert!(m.render().contains("ws3_admission_in_flight 1"));
        drop(guard);
        assert!(m.render().contains("ws3_admission_in_flight 0"));
        assert!(!m.ready());
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
