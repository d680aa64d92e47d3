//! The admission decision, driven directly (no HTTP) with test rule components and a fake
//! object source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use ws3_engine::{Mode, ObjectSource, OnError};
use ws3_webhook::{
    admission::{Evaluator, ReviewRequest, Skip},
    metrics::Metrics,
};

fn evaluator(rules: &[(TestRule, Mode, OnError)]) -> Evaluator {
    evaluator_disabling(rules, &[])
}

fn evaluator_disabling(rules: &[(TestRule, Mode, OnError)], disabled: &[&str]) -> Evaluator {
    let engine = engine(200);
    let rules = rule_set(&engine, rules, disabled, &["kube-system", "ws3-system"]);
    Evaluator::new(engine, rules, Arc::new(Metrics::new()))
}

fn standard(mode: Mode, on_error: OnError) -> Evaluator {
    evaluator(
        &standard_rules()
            .into_iter()
            .map(|r| (r, mode, on_error))
            .collect::<Vec<_>>(),
    )
}

fn review(body: &str) -> ReviewRequest {
    ReviewRequest::parse(body.as_bytes()).expect("fixture parses")
}

fn source() -> Arc<dyn ObjectSource> {
    Arc::new(FakeSource::default())
}

#[test]
fn enforce_denies_with_every_finding_and_warns_with_warnings() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    let d = ev.evaluate(&review(&fixture("statefulset-create-db-006")), &source());
    assert!(!d.allowed);
    assert_eq!(d.denied_by, ["test-deny"]);
    let message = d.message();
    assert!(
        message.contains("[test-deny] statefulset keeps data on emptyDir"),
        "{message}"
    );
    assert!(
        message.contains("at spec.template.spec.volumes[0].emptyDir"),
        "{message}"
    );
    assert!(
        message.contains("fix: use volumeClaimTemplates"),
        "{message}"
    );
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    assert!(
        d.warnings[0].contains("[test-warn] statefulset could be nicer"),
        "{:?}",
        d.warnings
    );
    let response = ws3_webhook::admission::response(&d, "uid-1");
    assert_eq!(response.result.code, 403);
}

#[test]
fn warn_mode_turns_every_finding_into_a_warning() {
    let ev = standard(Mode::Warn, OnError::Deny);
    let d = ev.evaluate(&review(&fixture("statefulset-create-db-006")), &source());
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(d.warnings.iter().any(|w| w.contains("test-deny")));
}

#[test]
fn disabled_rules_run_nothing() {
    let rules: Vec<_> = standard_rules()
        .into_iter()
        .map(|r| (r, Mode::Enforce, OnError::Deny))
        .collect();
    let ids: Vec<&str> = rules.iter().map(|(r, _, _)| r.id).collect();
    let ev = evaluator_disabling(&rules, &ids);
    let d = ev.evaluate(&review(&fixture("statefulset-create-db-006")), &source());
    assert_eq!(d.skipped, Some(Skip::NoRule));
}

#[test]
fn dry_run_is_judged_the_same_way() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    let body = fixture("statefulset-update-db-028");
    let req = review(&body);
    assert!(req.dry_run);
    let dry = ev.evaluate(&req, &source());
    let real = ev.evaluate(
        &review(&body.replace("\"dryRun\":true", "\"dryRun\":false")),
        &source(),
    );
    assert_eq!(dry, real);
    // The old StatefulSet had the violation already: an existing one, not a new one.
    assert!(dry.allowed, "{dry:?}");
    assert!(
        dry.warnings
            .iter()
            .any(|w| w.contains("existing violation") && w.contains("[test-deny]")),
        "{:?}",
        dry.warnings
    );
}

#[test]
fn delete_is_judged_on_the_old_object() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    let d = ev.evaluate(
        &review(&fixture("networkpolicy-delete-default-deny-ingress-031")),
        &source(),
    );
    assert!(!d.allowed, "{d:?}");
    assert_eq!(d.denied_by, ["test-delete-guard"]);
    // The same rule lets a CREATE through: it only speaks when there is no object but an old one.
    let d = ev.evaluate(
        &review(&fixture("networkpolicy-create-default-deny-ingress-017")),
        &source(),
    );
    assert!(d.allowed, "{d:?}");
}

#[test]
fn scale_subresource_connect_and_unreviewed_kinds_are_allowed_at_once() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    for name in [
        "scale-update-web-021",
        "scale-update-postgres-020",
        "scale-update-backend-022",
    ] {
        let req = review(&fixture(name));
        assert_eq!(ev.skip(&req, &source()), Some(Skip::Subresource), "{name}");
        assert!(ev.evaluate(&req, &source()).allowed, "{name}");
    }
    let d = ev.evaluate(
        &review(&fixture("secret-create-manifest-secret-015")),
        &source(),
    );
    assert_eq!(d.skipped, Some(Skip::NoRule));
    let connect = fixture("deployment-create-backend-007").replace("\"CREATE\"", "\"CONNECT\"");
    assert_eq!(ev.skip(&review(&connect), &source()), Some(Skip::Connect));
}

#[test]
fn exempt_namespaces_are_allowed_at_once() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    let body = fixture("statefulset-create-db-006").replace("kubernetes-ws-3", "ws3-system");
    let d = ev.evaluate(&review(&body), &source());
    assert_eq!(d.skipped, Some(Skip::ExemptNamespace));
    assert!(d.allowed);
    // A Namespace's own request is judged by its name.
    let ev = evaluator(&[(
        TestRule::new("test-ns", &[("", "Namespace")], Behaviour::Trap),
        Mode::Enforce,
        OnError::Deny,
    )]);
    let body = fixture("namespace-create-codewizard-002").replace("codewizard", "kube-system");
    assert_eq!(
        ev.skip(&review(&body), &source()),
        Some(Skip::ExemptNamespace)
    );
}

#[test]
fn suppressed_findings_do_not_deny_and_name_the_rule() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    let body = with_ignore(&fixture("statefulset-create-db-006"), "test-deny");
    let d = ev.evaluate(&review(&body), &source());
    assert!(d.allowed, "{d:?}");
    assert!(
        d.warnings.iter().any(|w| w.contains("[test-deny]")
            && w.contains("suppressed")
            && w.contains("ws3.dev/ignore")),
        "{:?}",
        d.warnings
    );
    // The other rule still speaks.
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("[test-warn] statefulset could be nicer")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn a_trapping_module_denies_naming_the_rule_unless_on_error_allows() {
    let deny = standard(Mode::Enforce, OnError::Deny);
    let body = fixture("configmap-create-db-config-003");
    let d = deny.evaluate(&review(&body), &source());
    assert!(!d.allowed);
    assert_eq!(d.failed, ["test-trap"]);
    assert!(
        d.message()
            .contains("[test-trap] the rule could not be evaluated"),
        "{}",
        d.message()
    );
    assert!(d.message().contains("crashed"), "{}", d.message());

    let allow = standard(Mode::Enforce, OnError::Allow);
    let d = allow.evaluate(&review(&body), &source());
    assert!(d.allowed);
    assert!(
        d.warnings[0].contains("[test-trap]") && d.warnings[0].contains("onError: allow"),
        "{:?}",
        d.warnings
    );
}

#[test]
fn a_module_that_runs_past_its_deadline_is_a_named_failure() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    let started = std::time::Instant::now();
    let d = ev.evaluate(
        &review(&fixture("service-create-db-headless-004")),
        &source(),
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(!d.allowed);
    assert!(
        d.message().contains("[test-loop]") && d.message().contains("deadline"),
        "{}",
        d.message()
    );
}

#[test]
fn a_rejecting_module_is_a_failure_too() {
    let ev = evaluator(&[(
        TestRule::new(
            "test-reject",
            &[("apps", "Deployment")],
            Behaviour::Reject("cannot read spec.template"),
        ),
        Mode::Enforce,
        OnError::Deny,
    )]);
    let d = ev.evaluate(
        &review(&fixture("deployment-create-backend-007")),
        &source(),
    );
    assert!(!d.allowed);
    assert!(
        d.message().contains("cannot read spec.template"),
        "{}",
        d.message()
    );
}

#[test]
fn unavailable_applies_on_error_per_rule() {
    let ev = evaluator(&[
        (standard_rules()[0].clone(), Mode::Enforce, OnError::Allow),
        (standard_rules()[1].clone(), Mode::Enforce, OnError::Deny),
    ]);
    let d = ev.unavailable(
        &review(&fixture("statefulset-create-db-006")),
        &source(),
        "no slot before the deadline",
    );
    assert!(!d.allowed);
    assert_eq!(d.denied_by, ["test-warn"]);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("[test-deny]") && w.contains("no slot")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn every_captured_review_gets_an_answer() {
    let ev = standard(Mode::Enforce, OnError::Deny);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/admission");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue; // lifecycle/: replayed in order by tests/lifecycle.rs
        }
        let body = std::fs::read_to_string(&path).unwrap();
        let req = review(&body);
        let d = ev.evaluate(&req, &source());
        let response = ws3_webhook::admission::response(&d, &req.uid);
        assert_eq!(response.uid, req.uid, "{}", path.display());
        count += 1;
    }
    assert_eq!(count, 45);
}

/// An UPDATE of `fixture` whose new and old objects are padded to the given JSON lengths (an
/// annotation of that many bytes more), for a rule that judges by length.
fn update_with_lengths(new_pad: usize, old_pad: usize) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&fixture("statefulset-update-db-019")).unwrap();
    for (field, pad) in [("object", new_pad), ("oldObject", old_pad)] {
        v["request"][field]["metadata"]["annotations"] =
            serde_json::json!({ "pad": "x".repeat(pad) });
    }
    v.to_string()
}

#[test]
fn an_update_that_keeps_a_violation_is_allowed_with_a_warning_and_one_that_adds_it_is_denied() {
    let rule = TestRule::new(
        "test-long",
        &[("apps", "StatefulSet")],
        Behaviour::DenyLongerThan(20_000),
    );
    let ev = evaluator(&[(rule.clone(), Mode::Enforce, OnError::Deny)]);
    // Old and new both over the limit: the violation existed before this change.
    let d = ev.evaluate(&review(&update_with_lengths(30_000, 30_000)), &source());
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        d.warnings,
        [
            "ws3 existing violation, not introduced by this change: [test-long] the object is too long at metadata; fix: shorten it"
        ]
    );
    // Only the new one is over: the change introduces it, and the denial says so.
    let d = ev.evaluate(&review(&update_with_lengths(30_000, 0)), &source());
    assert!(!d.allowed, "{d:?}");
    assert_eq!(
        d.denials,
        [
            "introduced by this change: [test-long] the object is too long at metadata; fix: shorten it"
        ]
    );
    // A CREATE has nothing to compare with.
    let mut create: serde_json::Value =
        serde_json::from_str(&update_with_lengths(30_000, 0)).unwrap();
    create["request"]["operation"] = "CREATE".into();
    create["request"]["oldObject"] = serde_json::Value::Null;
    let d = ev.evaluate(&review(&create.to_string()), &source());
    assert_eq!(
        d.denials,
        ["[test-long] the object is too long at metadata; fix: shorten it"]
    );
}

#[test]
fn allow_existing_violations_can_be_turned_off_per_rule() {
    let engine = engine(200);
    let loaded = engine
        .load(
            &TestRule::new(
                "test-long",
                &[("apps", "StatefulSet")],
                Behaviour::DenyLongerThan(20_000),
            )
            .component(),
            ws3_engine::Origin::Bytes("test-long".into()),
        )
        .unwrap();
    let config = ws3_engine::Config::parse(
        "rules:\n  test-long:\n    allowExistingViolations: false\n",
        std::path::Path::new(".ws3.yaml"),
    )
    .unwrap();
    let rules = ws3_engine::RuleSet::configure(
        vec![(loaded, false)],
        &config,
        &ws3_engine::RuleSetOptions::default(),
    )
    .unwrap();
    let ev = Evaluator::new(engine, rules, Arc::new(Metrics::new()));
    let d = ev.evaluate(&review(&update_with_lengths(30_000, 30_000)), &source());
    assert!(!d.allowed, "{d:?}");
}

/// The cluster's own housekeeping never meets a denial, whatever the rules say.
#[test]
fn lifecycle_requests_are_never_judged() {
    let rule = TestRule::new(
        "test-guard",
        &[
            ("networking.k8s.io", "NetworkPolicy"),
            ("apps", "StatefulSet"),
        ],
        Behaviour::DenyDelete,
    );
    let ev = evaluator(&[(rule, Mode::Enforce, OnError::Deny)]);
    let body = fixture("networkpolicy-delete-default-deny-ingress-031");
    assert!(
        !ev.evaluate(&review(&body), &source()).allowed,
        "a person's delete is judged"
    );
    for user in [
        "system:serviceaccount:kube-system:namespace-controller",
        "system:serviceaccount:kube-system:generic-garbage-collector",
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["request"]["userInfo"]["username"] = user.into();
        let d = ev.evaluate(&review(&v.to_string()), &source());
        assert_eq!(d.skipped, Some(Skip::Housekeeping), "{user}");
    }
    // In a namespace that is being deleted, nothing is judged.
    let terminating: Arc<dyn ObjectSource> = Arc::new(FakeSource::default().with(
        "Namespace",
        "",
        "kubernetes-ws-3",
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kubernetes-ws-3","deletionTimestamp":"2026-11-21T23:59:00Z"}}"#,
    ));
    let d = ev.evaluate(&review(&body), &terminating);
    assert_eq!(d.skipped, Some(Skip::NamespaceTerminating));
    // A delete-collection names no object: it is judged on the old object, name included.
    let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["request"]["name"] = "".into();
    let d = ev.evaluate(&review(&v.to_string()), &source());
    assert!(!d.allowed, "{d:?}");
}
