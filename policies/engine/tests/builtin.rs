//! The built-in rule components, as embedded in the binaries: they load, describe themselves,
//! and judge objects through the real wasm path, reading other objects from an `ObjectSource`.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test with its message

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use ws3_engine::{
    Config, Engine, EngineOptions, KindRef, ObjectSource, Operation, Request, RuleSet, Severity,
    builtin_modules,
};

const IDS: [&str; 4] = [
    "namespace-default-deny",
    "postgres-credentials-in-configmap",
    "statefulset-emptydir-data",
    "statefulset-headless-service",
];

fn setup() -> &'static (Engine, RuleSet) {
    static SETUP: OnceLock<(Engine, RuleSet)> = OnceLock::new();
    SETUP.get_or_init(|| {
        // Compile each module once per build of the tests, as the binaries do per machine.
        let cache_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
        let engine = Engine::new(&EngineOptions {
            cache_dir: Some(cache_dir),
            ..EngineOptions::default()
        })
        .unwrap();
        let rules = RuleSet::load(&engine, &Config::default(), &[], &[]).unwrap();
        (engine, rules)
    })
}

/// (group, kind, namespace).
type Key = (String, String, String);

/// Objects by kind and namespace, with their names.
#[derive(Default)]
struct Objects(HashMap<Key, Vec<(String, Arc<str>)>>);

impl Objects {
    fn with(mut self, json: serde_json::Value) -> Self {
        let api = json["apiVersion"].as_str().unwrap();
        let kind = KindRef::from_type(api, json["kind"].as_str().unwrap());
        let ns = json["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let name = json["metadata"]["name"].as_str().unwrap().to_owned();
        self.0
            .entry((kind.group, kind.kind, ns))
            .or_default()
            .push((name, json.to_string().into()));
        self
    }
}

impl ObjectSource for Objects {
    fn get(&self, kind: &KindRef, namespace: &str, name: &str) -> Option<Arc<str>> {
        let key = (kind.group.clone(), kind.kind.clone(), namespace.to_owned());
        self.0
            .get(&key)?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, j)| Arc::clone(j))
    }

    fn list(&self, kind: &KindRef, namespace: &str) -> Vec<Arc<str>> {
        let key = (kind.group.clone(), kind.kind.clone(), namespace.to_owned());
        self.0
            .get(&key)
            .map(|v| v.iter().map(|(_, j)| Arc::clone(j)).collect())
            .unwrap_or_default()
    }
}

fn statefulset(service_name: &str, volume: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {
            "serviceName": service_name,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "containers": [{"name": "postgres", "image": "postgres:16",
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}],
                    "volumes": [volume]
                }
            }
        }
    })
}

fn run(rule: &str, object: &serde_json::Value, source: Objects) -> Vec<ws3_engine::Finding> {
    let (engine, rules) = setup();
    let json = object.to_string();
    let kind = KindRef::from_type(
        object["apiVersion"].as_str().unwrap(),
        object["kind"].as_str().unwrap(),
    );
    let request = Request {
        operation: Operation::Lint,
        kind: &kind,
        name: object["metadata"]["name"].as_str().unwrap_or(""),
        object: Some(&json),
        old_object: None,
        namespace: "shop",
        settings: "{}",
        pod_template: rules.pod_templates().path_of(&kind),
        context: 0,
    };
    rules
        .get(rule)
        .unwrap()
        .rule
        .evaluate(engine, Arc::new(source), &request)
        .unwrap()
}

#[test]
fn the_four_builtin_rules_are_embedded_and_describe_themselves() {
    let names: Vec<&str> = builtin_modules().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, IDS);
    let (_, rules) = setup();
    for (configured, id) in rules.all().iter().zip(IDS) {
        let meta = configured.rule.meta();
        assert_eq!(meta.id, id, "a module's file name is its rule id");
        assert_eq!(meta.severity, Severity::Error);
        assert!(configured.builtin && configured.enabled);
        assert!(!meta.title.is_empty() && !meta.rationale.is_empty());
        for section in [
            "## What it does",
            "## Why is this bad?",
            "## Example",
            "## Use instead",
        ] {
            assert!(meta.docs.contains(section), "{id} docs lack {section}");
        }
    }
}

#[test]
fn emptydir_data_is_found_at_the_volume() {
    let bad = statefulset("db", serde_json::json!({"name": "data", "emptyDir": {}}));
    let findings = run("statefulset-emptydir-data", &bad, Objects::default());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].path, "spec.template.spec.volumes[0].emptyDir");
    assert_eq!(findings[0].rule_id, "statefulset-emptydir-data");
    let good = statefulset(
        "db",
        serde_json::json!({"name": "data", "persistentVolumeClaim": {"claimName": "db"}}),
    );
    assert!(run("statefulset-emptydir-data", &good, Objects::default()).is_empty());
}

#[test]
fn cross_object_rules_read_through_the_host() {
    let sts = statefulset(
        "db",
        serde_json::json!({"name": "data", "persistentVolumeClaim": {"claimName": "db"}}),
    );
    let missing = run("statefulset-headless-service", &sts, Objects::default());
    assert_eq!(missing.len(), 1, "{missing:?}");
    let headless = Objects::default().with(serde_json::json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}}
    }));
    assert!(run("statefulset-headless-service", &sts, headless).is_empty());
}

#[test]
fn configuration_disables_and_overrides() {
    let (engine, _) = setup();
    let config = Config::parse(
        "disable: [statefulset-headless-service]\nrules:\n  namespace-default-deny:\n    severity: warning\n",
        std::path::Path::new(".ws3.yaml"),
    )
    .unwrap();
    let rules = RuleSet::load(engine, &config, &[], &[]).unwrap();
    assert!(!rules.get("statefulset-headless-service").unwrap().enabled);
    assert_eq!(
        rules
            .get("namespace-default-deny")
            .unwrap()
            .effective_severity(),
        Severity::Warning
    );
    assert_eq!(rules.enabled().count(), 3);

    let unknown = Config::parse(
        "disable: [no-such-rule]\n",
        std::path::Path::new("x/.ws3.yaml"),
    )
    .unwrap();
    let err = RuleSet::load(engine, &unknown, &[], &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-such-rule") && err.contains("x/.ws3.yaml"),
        "{err}"
    );
}

#[test]
fn the_same_module_twice_is_refused() {
    let (engine, _) = setup();
    let dir = tempfile::tempdir().unwrap();
    let (name, bytes) = builtin_modules()[0];
    std::fs::write(dir.path().join(format!("{name}.wasm")), bytes).unwrap();
    let err = RuleSet::load(engine, &Config::default(), &[dir.path().to_owned()], &[]).unwrap_err();
    assert!(err.to_string().contains("declared by both"), "{err}");
}

/// An object far larger than a rule's arena (512 KiB) spills over to the module's standard
/// allocator, and the deepest nesting the Kubernetes schema allows fits its 256 KiB stack.
#[test]
fn large_and_deeply_nested_objects_fit_the_modules_memory() {
    let term = serde_json::json!({
        "weight": 1,
        "podAffinityTerm": {
            "topologyKey": "kubernetes.io/hostname",
            "labelSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["db", "cache"]}
            ]}
        }
    });
    let containers: Vec<serde_json::Value> = (0..400)
        .map(|i| {
            let env: Vec<serde_json::Value> = (0..40)
                .map(|j| serde_json::json!({"name": format!("VAR_{j}"), "value": "x".repeat(24)}))
                .collect();
            serde_json::json!({
                "name": format!("c{i}"), "image": "postgres:16", "env": env,
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]
            })
        })
        .collect();
    let mut sts = statefulset("db", serde_json::json!({"name": "data", "emptyDir": {}}));
    let pod = &mut sts["spec"]["template"]["spec"];
    pod["containers"] = serde_json::Value::Array(containers);
    pod["affinity"] = serde_json::json!({"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [term]
    }});
    assert!(sts.to_string().len() > 512 << 10);
    let findings = run("statefulset-emptydir-data", &sts, Objects::default());
    assert_eq!(findings.len(), 400, "one per container");

    let mut data: serde_json::Map<String, serde_json::Value> = (0..4000)
        .map(|i| (format!("key{i}"), "v".repeat(512).into()))
        .collect();
    data.insert("POSTGRES_PASSWORD".into(), "hunter2".into());
    let config_map = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": data
    });
    let findings = run(
        "postgres-credentials-in-configmap",
        &config_map,
        Objects::default(),
    );
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].path, "data.POSTGRES_PASSWORD");
}
