//! The `ws3-lint` binary end to end: exit codes, inputs, subcommands, configuration, and
//! snapshots of every output format over the course manifests.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a panic is a failing test with its message"
)]

use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
};

const DB_EMPTYDIR: &str = "tests/fixtures/course/01-ws3-db-emptydir.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run from the package root with its cache in the target directory and no
/// configuration from the environment.
fn ws3(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ws3-lint"));
    cmd.args(args)
        .current_dir(root())
        .env(
            "WS3_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ws3-cache"),
        )
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Output {
    ws3(args).output().expect("the binary runs")
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    ws3(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = ws3(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

const CLEAN: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: app\ndata:\n  LOG_LEVEL: debug\n";

#[test]
fn a_clean_file_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.yaml"), CLEAN).unwrap();
    let o = run_in(dir.path(), &["ok.yaml"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("All checks passed: 1 file (1 object)."),
        "{}",
        stdout(&o)
    );
}

#[test]
fn findings_exit_1_and_point_at_the_field() {
    let o = run(&["--no-color", DB_EMPTYDIR]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{DB_EMPTYDIR}:66:11: error[statefulset-emptydir-data]"
        )),
        "{out}"
    );
    assert!(out.contains("StatefulSet kubernetes-ws-3/db"), "{out}");
    assert!(out.contains("help: "), "{out}");
    assert!(
        !out.contains("\x1b["),
        "no colour when not a terminal: {out}"
    );
}

#[test]
fn fail_on_sets_the_threshold() {
    let only_emptydir = [
        "--disable",
        "postgres-credentials-in-configmap",
        "--disable",
        "namespace-default-deny",
    ];
    let o = run(&[
        &["--no-color", "--fail-on", "error", DB_EMPTYDIR][..],
        &only_emptydir,
    ]
    .concat());
    assert_eq!(code(&o), 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".ws3.yaml"),
        "rules:\n  statefulset-emptydir-data:\n    severity: warning\n",
    )
    .unwrap();
    std::fs::copy(root().join(DB_EMPTYDIR), dir.path().join("db.yaml")).unwrap();
    let args = [&["--no-color", "db.yaml"][..], &only_emptydir].concat();
    let o = run_in(dir.path(), &args);
    assert_eq!(
        code(&o),
        0,
        "a warning does not fail by default: {}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("warning[statefulset-emptydir-data]"),
        "{}",
        stdout(&o)
    );
    let o = run_in(dir.path(), &[&args[..], &["--fail-on", "warning"]].concat());
    assert_eq!(code(&o), 1);
    let o = run_in(dir.path(), &[&args[..], &["--fail-on", "info"]].concat());
    assert_eq!(code(&o), 1);
}

#[test]
fn stdin_is_read_for_dash() {
    let text = std::fs::read_to_string(root().join(DB_EMPTYDIR)).unwrap();
    let o = with_stdin(&["--format", "json", "-"], &text);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v = json(&o);
    let files: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(
        !files.is_empty() && files.iter().all(|f| *f == "<stdin>"),
        "{files:?}"
    );
}

#[test]
fn helm_output_names_templates() {
    // Like `helm template`: each document after `---` and its own `# Source:` line.
    let text = std::fs::read_to_string(root().join(DB_EMPTYDIR)).unwrap();
    let helm: String = text
        .split("\n---\n")
        .enumerate()
        .map(|(i, doc)| {
            format!(
                "---\n# Source: db/templates/part-{i}.yaml\n{}\n",
                doc.trim_end()
            )
        })
        .collect();
    let o = with_stdin(&["--format", "json", "-"], &helm);
    let v = json(&o);
    let findings = v["findings"].as_array().unwrap();
    let emptydir = findings
        .iter()
        .find(|f| f["rule"] == "statefulset-emptydir-data")
        .unwrap();
    assert_eq!(emptydir["template"], "db/templates/part-3.yaml");
    assert_eq!(emptydir["line"], 71, "{emptydir}");
    let config = findings
        .iter()
        .find(|f| f["object"]["kind"] == "ConfigMap")
        .unwrap();
    assert_eq!(config["template"], "db/templates/part-0.yaml");
}

#[test]
fn a_syntax_error_in_one_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a-bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: [1, 2\n  b: 3\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b-bad.json"),
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",, }\n",
    )
    .unwrap();
    std::fs::copy(root().join(DB_EMPTYDIR), dir.path().join("c-db.yaml")).unwrap();
    let o = run_in(dir.path(), &["--no-color", "."]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("./a-bad.yaml:5:"), "{err}");
    assert!(err.contains("invalid YAML in document 1"), "{err}");
    assert!(err.contains("./b-bad.json:1:"), "{err}");
    assert!(err.contains("invalid JSON in document 1"), "{err}");
    assert!(
        stdout(&o).contains("./c-db.yaml:66:11: error[statefulset-emptydir-data]"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("2 input or rule errors prevented a complete check"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn missing_files_and_bad_fields_are_errors_naming_file_document_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  namespace: [hunter2]\n").unwrap();
    let o = run_in(dir.path(), &["--no-color", "x.yaml", "nope.yaml"]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("nope.yaml: error: cannot read: No such file or directory"),
        "{err}"
    );
    assert!(
        err.contains(
            "x.yaml:9:14: error: document 2: `metadata.namespace` must be a string, not a list"
        ),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && !stdout(&o).contains("hunter2"),
        "values are never quoted"
    );
}

#[test]
fn non_kubernetes_yaml_is_an_error_naming_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Chart.yaml"),
        "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
    )
    .unwrap();
    let o = run_in(dir.path(), &["--no-color", "."]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "./Chart.yaml:1:1: error: document 1: not a Kubernetes object: `kind` is missing"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn suppressed_findings_are_counted_and_shown_on_request() {
    let text = std::fs::read_to_string(root().join(DB_EMPTYDIR)).unwrap().replace(
        "  name: db\n  namespace: kubernetes-ws-3\n  labels:",
        "  name: db\n  namespace: kubernetes-ws-3\n  annotations:\n    ws3.dev/ignore: statefulset-emptydir-data\n  labels:",
    );
    let args = [
        "--no-color",
        "--disable",
        "postgres-credentials-in-configmap",
        "--disable",
        "namespace-default-deny",
        "-",
    ];
    let o = with_stdin(&args, &text);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("All checks passed: 1 file (4 objects), 1 suppressed."),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("error[statefulset-emptydir-data]"));
    let o = with_stdin(&[&args[..], &["--show-suppressed"]].concat(), &text);
    assert!(
        stdout(&o).contains("error[statefulset-emptydir-data]"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("(suppressed)"), "{}", stdout(&o));
    let o = with_stdin(&["--format", "json", "-"], &text);
    let v = json(&o);
    let findings = v["findings"].as_array().unwrap();
    let emptydir = findings
        .iter()
        .find(|f| f["rule"] == "statefulset-emptydir-data")
        .unwrap();
    assert_eq!(emptydir["suppressed"], true);
    assert_eq!(v["summary"]["suppressed"], 1);
}

#[test]
fn rules_lists_every_rule() {
    let o = run(&["rules"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ID "), "{out}");
    for id in [
        "statefulset-emptydir-data",
        "postgres-credentials-in-configmap",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {out}"));
        assert!(
            line.contains("error") && line.contains("built-in"),
            "{line}"
        );
    }
    let o = run(&[
        "rules",
        "--disable",
        "statefulset-emptydir-data",
        "--format",
        "json",
    ]);
    let v = json(&o);
    let rule = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "statefulset-emptydir-data")
        .unwrap();
    assert_eq!(rule["enabled"], false);
    // What each rule judges at admission, which the webhook registration follows.
    let namespace_rule = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "namespace-default-deny")
        .unwrap();
    assert_eq!(
        namespace_rule["reviews"][1],
        serde_json::json!({"group": "networking.k8s.io", "kind": "NetworkPolicy", "operations": ["UPDATE", "DELETE"]})
    );
    assert_eq!(namespace_rule["workloads"], serde_json::json!(["CREATE"]));
    assert_eq!(
        namespace_rule["exemptNamespaces"],
        serde_json::json!(["kube-system", "kube-public", "kube-node-lease"])
    );
    assert_eq!(namespace_rule["interface"], "0.2");
}

#[test]
fn explain_prints_the_docs() {
    let o = run(&["explain", "statefulset-emptydir-data"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("# statefulset-emptydir-data"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("## Use instead"));
    let o = run(&["explain", "no-such-rule"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unknown rule `no-such-rule` (known rules: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_configuration_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".ws3.yaml"),
        "disabel: [statefulset-emptydir-data]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ok.yaml"), CLEAN).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    // Found upward from the working directory.
    let o = run_in(&sub, &["../ok.yaml"]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.starts_with("error: ") && err.contains("disabel") && err.contains(".ws3.yaml"),
        "{err}"
    );
    let o = run_in(dir.path(), &["--config", "missing.yaml", "ok.yaml"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("missing.yaml"), "{}", stderr(&o));
    std::fs::write(dir.path().join(".ws3.yaml"), "disable: [no-such-rule]\n").unwrap();
    let o = run_in(dir.path(), &["ok.yaml"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no-such-rule"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(code(&run(&[])), 2);
    assert_eq!(code(&run(&["--format", "xml", "x.yaml"])), 2);
    assert_eq!(code(&run(&["--help"])), 0);
}

#[test]
fn a_bad_rule_module_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.wasm"), b"not wasm").unwrap();
    std::fs::write(dir.path().join("ok.yaml"), CLEAN).unwrap();
    let o = run_in(dir.path(), &["--module", "junk.wasm", "ok.yaml"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("junk.wasm"), "{}", stderr(&o));
}

#[test]
fn the_namespace_option_sets_the_default_namespace() {
    let text = std::fs::read_to_string(root().join(DB_EMPTYDIR))
        .unwrap()
        .replace("  namespace: kubernetes-ws-3\n", "");
    let o = with_stdin(&["--format", "json", "--namespace", "team-a", "-"], &text);
    let v = json(&o);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["object"]["namespace"] == "team-a"),
        "{v}"
    );
    // Cross-object rules see objects of the default namespace: the StatefulSet's envFrom-free
    // configMapKeyRef to db-config still finds the ConfigMap.
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "postgres-credentials-in-configmap")
    );
}

#[test]
fn github_annotations() {
    let o = run(&["--format", "github", DB_EMPTYDIR]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("title=statefulset-emptydir-data"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with(&format!(
            "::error file={DB_EMPTYDIR},line=66,col=11,endLine=66,endColumn=23,title="
        )),
        "{line}"
    );
    assert!(line.contains("%0Ahelp: "), "{line}");
}

/// The course manifests, in every format.
mod snapshots {
    use super::*;

    const COURSE: &str = "tests/fixtures/course";

    #[test]
    fn text() {
        let o = run(&["--no-color", COURSE]);
        insta::assert_snapshot!(format!("exit code: {}\n{}", code(&o), stdout(&o)));
    }

    #[test]
    fn json_format() {
        let o = run(&["--format", "json", COURSE]);
        assert!(code(&o) == 1, "{}", stderr(&o));
        insta::assert_json_snapshot!(json(&o));
    }

    #[test]
    fn sarif() {
        let o = run(&["--format", "sarif", COURSE]);
        let mut log = json(&o);
        validate_sarif(&log);
        log["runs"][0]["tool"]["driver"]["version"] = "[version]".into();
        // The rules' documentation is the modules' (tested with the rules); keep it out of the
        // snapshot so that editing a README does not break it.
        for rule in log["runs"][0]["tool"]["driver"]["rules"]
            .as_array_mut()
            .unwrap()
        {
            let id = rule["id"].as_str().unwrap().to_owned();
            let help = &mut rule["help"];
            assert!(
                help["markdown"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("# {id}\n")),
                "{help}"
            );
            assert_eq!(help["markdown"], help["text"]);
            *help = serde_json::json!({ "text": format!("[docs of {id}]"), "markdown": format!("[docs of {id}]") });
        }
        insta::assert_json_snapshot!(log);
    }

    #[test]
    fn github() {
        let o = run(&["--format", "github", COURSE]);
        insta::assert_snapshot!(stdout(&o));
    }

    #[test]
    fn sarif_with_errors_and_suppressions_validates() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(root().join(DB_EMPTYDIR)).unwrap().replace(
            "  name: db\n  namespace: kubernetes-ws-3\n  labels:",
            "  name: db\n  namespace: kubernetes-ws-3\n  annotations:\n    ws3.dev/ignore: statefulset-emptydir-data\n  labels:",
        );
        std::fs::write(dir.path().join("db.yaml"), text).unwrap();
        std::fs::write(dir.path().join("bad file.yaml"), "a: [\n").unwrap();
        let o = run_in(dir.path(), &["--format", "sarif", "."]);
        assert_eq!(code(&o), 2);
        let log = json(&o);
        validate_sarif(&log);
        let run = &log["runs"][0];
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
        let note = &run["invocations"][0]["toolExecutionNotifications"][0];
        assert_eq!(
            note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "./bad%20file.yaml"
        );
        let suppressed: Vec<_> = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["suppressions"][0]["kind"] == "inSource")
            .collect();
        assert_eq!(suppressed.len(), 1);
    }

    fn validate_sarif(log: &serde_json::Value) {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("tests/fixtures/sarif-schema-2.1.0.json"))
                .unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(log)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "SARIF does not validate:\n{}",
            errors.join("\n")
        );
    }
}

// lint-input: what ws3-lint reads (kubectl's parsing, hostile files, walking, discovery).

/// Runs the binary, failing (instead of hanging the test run) if it has not exited after two
/// minutes: for inputs that used to block forever.
fn run_guarded(dir: &Path, args: &[&str]) -> Output {
    let mut child = ws3(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..1200 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("ws3-lint {args:?} did not finish");
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

const EMPTYDIR_STS: &str = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: app\nspec:\n  serviceName: db\n  selector:\n    matchLabels: {app: db}\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n      - name: db\n        image: postgres:16\n        volumeMounts:\n        - {name: data, mountPath: /var/lib/postgresql/data}\n      volumes:\n      - name: data\n        emptyDir: {}\n";

#[test]
fn lint_input_fifos_as_paths_in_walks_or_as_config_are_errors_that_never_block() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.yaml"), CLEAN).unwrap();
    mkfifo(&dir.path().join("pipe.yaml"));
    let o = run_guarded(dir.path(), &["--no-color", "pipe.yaml"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("pipe.yaml: error: a FIFO is not read: only regular files are"),
        "{}",
        stderr(&o)
    );
    let o = run_guarded(dir.path(), &["--no-color", "."]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("./pipe.yaml: error: a FIFO is not read"),
        "{}",
        stderr(&o)
    );
    let o = run_guarded(
        dir.path(),
        &["--no-color", "--config", "pipe.yaml", "ok.yaml"],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("pipe.yaml: a FIFO is not read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_input_hidden_directories_are_skipped_below_named_ones_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repo/.k8s")).unwrap();
    std::fs::write(dir.path().join("repo/.k8s/db.yaml"), EMPTYDIR_STS).unwrap();
    std::fs::write(dir.path().join("repo/ok.yaml"), CLEAN).unwrap();
    let o = run_in(dir.path(), &["--no-color", "-v", "repo"]);
    assert!(
        stderr(&o)
            .contains("repo: note: 1 hidden entry skipped: .k8s (name a hidden path to lint it)"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("emptydir"), "{}", stdout(&o));
    // Named, a hidden directory is read.
    let o = run_in(dir.path(), &["--no-color", "repo/.k8s"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("repo/.k8s/db.yaml:21:9: error[statefulset-emptydir-data]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn lint_input_gitignored_directories_are_not_walked() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("target/out")).unwrap();
    std::fs::create_dir_all(repo.join("node_modules/x")).unwrap();
    std::fs::write(repo.join(".gitignore"), "/target/\nnode_modules\n").unwrap();
    std::fs::write(repo.join("target/out/db.yaml"), EMPTYDIR_STS).unwrap();
    std::fs::write(repo.join("node_modules/x/db.yaml"), EMPTYDIR_STS).unwrap();
    std::fs::write(repo.join("ok.yaml"), CLEAN).unwrap();
    let o = run_in(repo, &["--no-color", "."]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn lint_input_configuration_discovery_stops_at_the_repository_root() {
    let dir = tempfile::tempdir().unwrap();
    // A stray configuration above the repository that would turn the rule off.
    std::fs::write(
        dir.path().join(".ws3.yaml"),
        "disable: [statefulset-emptydir-data]\n",
    )
    .unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join("db.yaml"), EMPTYDIR_STS).unwrap();
    let o = run_in(&repo, &["--no-color", "db.yaml"]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("statefulset-emptydir-data"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn lint_input_typos_in_apiversion_or_kind_are_errors_with_the_right_spelling() {
    let text = EMPTYDIR_STS.replace("kind: StatefulSet", "Kind: StatefulSet");
    let o = with_stdin(
        &["--no-color", "-"],
        &format!("{CLEAN}---\n# nothing\n---\n{text}"),
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "<stdin>:12:1: error: document 3: not a Kubernetes object: `kind` is missing (there is `Kind`: field names are case-sensitive)"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_input_duplicate_keys_are_errors_naming_both_lines_and_no_value() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  POSTGRES_PASSWORD: s3cret-value\n  POSTGRES_PASSWORD: \"\"\n";
    let o = with_stdin(&["--no-color", "-"], text);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("<stdin>:7:3: error: invalid YAML in document 1: duplicate key `POSTGRES_PASSWORD`: first at line 6, again at line 7"),
        "{err}"
    );
    assert!(
        !err.contains("s3cret") && !stdout(&o).contains("s3cret"),
        "{err}"
    );
}

#[test]
fn lint_input_null_and_empty_values_are_absent_not_rule_errors() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: app\n  labels: {tier: null}\ndata:\n  POSTGRES_PASSWORD:\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: app\nspec:\n  template:\n    metadata:\n      labels:\n    spec:\n      containers:\n      - name: x\n        image: x\n        env:\n        - name: POSTGRES_PASSWORD\n          value:\n";
    let o = with_stdin(&["--no-color", "--format", "json", "-"], text);
    // No rule fails on a null (the Deployment's namespace has no default-deny policy: that
    // finding is expected).
    assert_ne!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    let v = json(&o);
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] == "namespace-default-deny"),
        "{v}"
    );
}

#[test]
fn lint_input_kubectl_readable_quoted_scalars_and_json_streams_are_read() {
    // The shape of Kubernetes' e2e redis StatefulSet: the closing `]'` of a multi-line
    // single-quoted annotation at the key's indentation.
    let redis = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: app\n  annotations:\n    init-containers: '[\n        {\"name\": \"install\"}\n    ]'\ndata:\n  a: b\n";
    let o = with_stdin(&["--no-color", "-"], redis);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // Two JSON objects back to back: kubectl applies both. The second one's finding is on its
    // line and in its document.
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"app","labels":{"emoji":"\ud83d\ude00"}}}"#;
    let sts = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"app"},
"spec":{"serviceName":"db","template":{"spec":{"volumes":[{"name":"data","emptyDir":{}}]}}}}"#;
    let o = with_stdin(
        &["--no-color", "--format", "json", "-"],
        &format!("{cm}{sts}\n"),
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v = json(&o);
    let finding = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "statefulset-headless-service")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (
            finding["line"].as_u64(),
            finding["column"].as_u64(),
            finding["document"].as_u64()
        ),
        (Some(2), Some(9), Some(2)),
        "{finding}"
    );
}

#[test]
fn lint_input_lone_cr_line_ends_keep_findings_on_their_lines() {
    let text = std::fs::read_to_string(root().join(DB_EMPTYDIR))
        .unwrap()
        .replace('\n', "\r");
    let o = with_stdin(&["--no-color", "-"], &text);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("<stdin>:66:11: error[statefulset-emptydir-data]"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("emptyDir: {}"), "{}", stdout(&o));
}

#[test]
fn lint_input_file_names_with_control_characters_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let name = "db\n::error file=x.yaml::forged\u{1b}]0;title\u{7}.yaml";
    std::fs::write(dir.path().join(name), EMPTYDIR_STS).unwrap();
    std::fs::write(dir.path().join("bad\u{202e}.yaml"), "a: [\n").unwrap();
    for format in ["text", "json", "github", "sarif"] {
        let o = run_in(dir.path(), &["--no-color", "--format", format, "."]);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{7}'),
            "{format}: {all}"
        );
        assert!(
            !all.contains("\n::error file=x.yaml::forged"),
            "{format}: {all}"
        );
        assert!(!all.contains('\u{202e}'), "{format}: {all}");
    }
    let o = run_in(dir.path(), &["--no-color", "."]);
    assert!(
        stdout(&o).contains("db\\n::error file=x.yaml::forged\\x1b]0;title\\x07.yaml"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("./bad\\u{202e}.yaml:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_input_alias_bombs_stop_with_an_error_naming_file_and_document() {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..9 {
        let p = format!("*a{}", i - 1);
        text.push_str(&format!(
            "a{i}: &a{i} [{p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}]\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bomb.yaml"), &text).unwrap();
    let o = run_guarded(dir.path(), &["--no-color", "bomb.yaml"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("invalid YAML in document 2: anchors and aliases expand past 128 MiB"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("bomb.yaml:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not linted"), "{}", stderr(&o));
}

// lint-output: what users read never shows a secret, a value from an error, or a raw control
// character, in any format.

/// Planted secrets and a file that holds every one of them next to findings.
const PLANTED: &[&str] = &[
    "73915824601",
    "PlantedQuotedPw5",
    "sk_live_PlantedStripeToken",
    "PlantedUrlPw1",
    "PlantedJdbcPw2",
    "PlantedConninfoPw3",
    "PlantedNpgsqlPw4",
    "PlantedSecretPw6",
    "PlantedEnvPw7",
    "PlantedEnvUrlPw8",
    "PlantedCommentPw9",
    "PlantedPlainPw10",
];

const PLANTED_FILE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: db-config
  namespace: app
data:
  DATABASE_URL: postgresql://app:PlantedUrlPw1@db:5432/app
  JDBC_URL: jdbc:postgresql://db:5432/app?user=app&password=PlantedJdbcPw2
  PG_CONNINFO: host=db port=5432 user=app password=PlantedConninfoPw3
  NPGSQL: "Host=db;Username=app;Password=PlantedNpgsqlPw4;Database=app"
  STRIPE_API_TOKEN: sk_live_PlantedStripeToken
  POSTGRES_PASSWORD: "PlantedQuotedPw5"
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: app
stringData:
  password: PlantedSecretPw6
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: db-config-2
  namespace: app
data:
  # POSTGRES_PASSWORD: PlantedCommentPw9
  POSTGRES_PASSWORD: PlantedPlainPw10
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: db-config-3
  namespace: app
data:
  POSTGRES_PASSWORD: 73915824601
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: app
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
        - name: postgres
          image: postgres:16
          env:
            - name: POSTGRES_PASSWORD
              value: "PlantedEnvPw7"
            - name: DATABASE_URL
              value: postgres://app:PlantedEnvUrlPw8@db/app
          volumeMounts:
            - {name: data, mountPath: /var/lib/postgresql/data}
      volumes:
        - name: data
          emptyDir: {}
"#;

/// The line (from 1) of the planted file where `text` first is.
fn planted_line(text: &str) -> usize {
    PLANTED_FILE.lines().position(|l| l.contains(text)).unwrap() + 1
}

#[test]
fn planted_secrets_never_reach_stdout_or_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["lf.yaml", "crlf.yaml", "cr.yaml"];
    for (name, eol) in names.iter().zip(["\n", "\r\n", "\r"]) {
        std::fs::write(dir.path().join(name), PLANTED_FILE.replace('\n', eol)).unwrap();
    }
    // Each variant on its own: together they would define the same objects twice.
    let mut texts = String::new();
    for (name, format) in names
        .iter()
        .flat_map(|n| ["text", "json", "sarif", "github"].map(|f| (n, f)))
    {
        for verbose in [&[][..], &["-v", "--show-suppressed"][..]] {
            let args = [&["--no-color", "--format", format][..], verbose, &[name]].concat();
            let o = run_in(dir.path(), &args);
            let (out, err) = (stdout(&o), stderr(&o));
            // The unquoted number fails the rule's string decode: a rule error.
            assert_eq!(code(&o), 2, "{format}:\n{out}{err}");
            for secret in PLANTED {
                assert!(
                    !out.contains(secret) && !err.contains(secret),
                    "{name} {format} {verbose:?} shows {secret}:\n{out}\n{err}"
                );
            }
            if format == "text" {
                texts.push_str(&out);
                assert!(
                    err.contains("cannot read ConfigMap") && err.contains("invalid type: integer"),
                    "{err}"
                );
            }
        }
    }
    // The frames were drawn, values masked, on the same lines whatever the line ends.
    let blocks: Vec<&str> = texts.split("\n\n").collect();
    for name in names {
        for (line, shown) in [
            ("STRIPE_API_TOKEN", "  STRIPE_API_TOKEN: ****"),
            ("PlantedQuotedPw5", "  POSTGRES_PASSWORD: ****"),
            ("PlantedCommentPw9", "  # POSTGRES_PASSWORD: ****"),
            ("PlantedPlainPw10", "  POSTGRES_PASSWORD: ****"),
            ("PlantedEnvPw7", "              value: ****"),
            ("emptyDir", "          emptyDir: {}"),
        ] {
            let frame_line = format!("\n{} | {shown}\n", planted_line(line));
            assert!(
                blocks
                    .iter()
                    .any(|b| b.starts_with(&format!("{name}:")) && b.contains(&frame_line)),
                "{name}: `{frame_line}` in\n{texts}"
            );
        }
        let finding = format!(
            "{name}:{}:11: error[statefulset-emptydir-data]",
            planted_line("emptyDir")
        );
        assert!(texts.contains(&finding), "{finding} in\n{texts}");
    }
}

#[test]
fn rule_errors_do_not_echo_values() {
    // An unquoted number where a rule decodes a string: the rule's error must not quote it.
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: app\nspec:\n  serviceName: db\n  template:\n    spec:\n      containers:\n        - name: 73915824601\n          image: 73915824602\n          env:\n            - name: POSTGRES_PASSWORD\n              value: 73915824603\n";
    std::fs::write(dir.path().join("n.yaml"), text).unwrap();
    for format in ["text", "json", "sarif", "github"] {
        let o = run_in(dir.path(), &["--no-color", "--format", format, "n.yaml"]);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        // The rules' decode errors are reported (exit 2), without the value.
        assert_eq!(code(&o), 2, "{format}: {all}");
        assert!(all.contains("invalid type: integer"), "{format}: {all}");
        for value in ["73915824601", "73915824602", "73915824603"] {
            assert!(!all.contains(value), "{format}: {all}");
        }
    }
}

#[test]
fn names_are_printed_with_control_characters_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let name = "x\n::error file=evil.yaml::injected\u{1b}]0;title\u{7}.yaml";
    let text = std::fs::read_to_string(root().join(DB_EMPTYDIR))
        .unwrap()
        .replace("  name: db\n", "  name: \"db\\e[2J\\u009b31m\"\n");
    std::fs::write(dir.path().join(name), text).unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "a: [\n").unwrap();
    for format in ["text", "json", "sarif", "github"] {
        let o = run_in(
            dir.path(),
            &["--no-color", "-v", "--format", format, name, "bad.yaml"],
        );
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(code(&o), 2, "{format}: {out}{err}");
        assert!(out.contains("kubernetes-ws-3"), "{format}: {out}");
        for stream in [&out, &err] {
            assert!(
                !stream.contains(['\u{1b}', '\u{7}', '\u{9b}']),
                "{format}: {stream}"
            );
            assert!(
                !stream.lines().any(|l| l.starts_with("::error file=evil")),
                "{format}: {stream}"
            );
        }
        if format == "github" {
            assert!(
                out.lines().all(|l| l.starts_with("::")),
                "every line is one command: {out}"
            );
        }
    }
}

#[test]
fn long_lines_are_cut_around_the_finding() {
    // Many StatefulSets on one line of JSON: each frame shows a window of that line, not all
    // of it.
    let item = r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db-N","namespace":"app"},"spec":{"serviceName":"db","template":{"spec":{"containers":[{"name":"c","image":"i","volumeMounts":[{"name":"data","mountPath":"/data"}]}],"volumes":[{"name":"data","emptyDir":{}}]}}}}"#;
    let items: Vec<String> = (0..300)
        .map(|i| item.replace("db-N", &format!("db-{i}")))
        .collect();
    let text = format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
        items.join(",")
    );
    let o = with_stdin(
        &[
            "--no-color",
            "--disable",
            "namespace-default-deny",
            "--disable",
            "statefulset-headless-service",
            "-",
        ],
        &text,
    );
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let frames = out.matches("error[statefulset-emptydir-data]").count();
    assert_eq!(frames, 300, "{}", &out[..out.len().min(2000)]);
    let longest = out.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest < 200, "a line of {longest} characters");
    assert!(out.len() < 300 * 1500, "{} bytes", out.len());
    let shown: Vec<&str> = out.lines().filter(|l| l.starts_with("1 | ")).collect();
    assert_eq!(shown.len(), 300);
    assert!(
        shown
            .iter()
            .all(|l| l.starts_with("1 | ...") && l.contains(r#""emptyDir":{}"#)),
        "{shown:?}"
    );
}

// lead: rule decode errors

/// A field a rule reads that has the wrong type is an error at that field in the user's file,
/// never at a position of the JSON copy the rule was given, and never with the value.
#[test]
fn a_field_a_rule_cannot_read_is_an_error_at_that_field() {
    let manifest = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  template:\n    spec:\n      containers:\n      - name: postgres\n        image: postgres:16\n        env:\n        - name: POSTGRES_PASSWORD\n          value: [73915824601]\n";
    let o = with_stdin(&["--no-color", "-"], manifest);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("<stdin>:14:") && err.contains("containers[0].env[0].value"),
        "{err}"
    );
    assert!(
        !err.contains("line 1 column") && !err.contains("73915824601"),
        "{err}"
    );
}

/// A StatefulSet whose headless Service lives in another file.
const STS_NEEDS_SERVICE: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db-headless
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
";

const HEADLESS_SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: db-headless, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
";

#[test]
fn context_files_answer_lookups_and_are_not_judged() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("sts.yaml"), STS_NEEDS_SERVICE).unwrap();
    std::fs::create_dir(p.join("repo")).unwrap();
    std::fs::write(p.join("repo/service.yaml"), HEADLESS_SERVICE).unwrap();
    // Not Kubernetes, and a StatefulSet with a finding of its own: neither is judged.
    std::fs::write(p.join("repo/ci-workflow.yaml"), "name: ci\non: [push]\n").unwrap();
    std::fs::write(
        p.join("repo/other.yaml"),
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x, namespace: shop}\nspec: {serviceName: \"\"}\n",
    )
    .unwrap();
    let args = ["--disable", "namespace-default-deny", "--format", "json"];

    let alone = run_in(p, &[&args[..], &["sts.yaml"]].concat());
    assert_eq!(code(&alone), 1, "{}", stderr(&alone));
    assert!(stdout(&alone).contains("db-headless"), "{}", stdout(&alone));

    let with = run_in(p, &[&args[..], &["--context", "repo", "sts.yaml"]].concat());
    assert_eq!(code(&with), 0, "{}{}", stdout(&with), stderr(&with));
    let report = json(&with);
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");

    let verbose = run_in(
        p,
        &[&args[..], &["-v", "--context", "repo", "sts.yaml"]].concat(),
    );
    assert_eq!(code(&verbose), 0);
    assert!(
        stderr(&verbose).contains("context file skipped"),
        "{}",
        stderr(&verbose)
    );
}

#[test]
fn objects_defined_twice_are_errors_naming_the_first_on_any_number_of_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let config_map = |name: &str, namespace: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{namespace}data:\n  LOG_LEVEL: debug\n"
        )
    };
    for i in 0..30 {
        let mut text = config_map(&format!("cm-{i}"), "  namespace: app\n");
        if i % 10 == 9 {
            // Again, in the same namespace: kubectl would apply it over the first.
            text.push_str("---\n");
            text.push_str(&config_map("cm-3", "  namespace: app\n"));
        }
        if i == 25 {
            // The default namespace, given and not: the same object.
            text.push_str("---\n");
            text.push_str(&config_map("plain", ""));
            text.push_str("---\n");
            text.push_str(&config_map("plain", "  namespace: default\n"));
        }
        std::fs::write(dir.path().join(format!("{i:02}.yaml")), text).unwrap();
    }
    let one = run_in(dir.path(), &["--no-color", "-j", "1", "."]);
    let two = run_in(dir.path(), &["--no-color", "-j", "2", "."]);
    assert_eq!(code(&one), 2);
    let err = stderr(&one);
    let twice: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("defined twice"))
        .collect();
    assert_eq!(
        twice,
        [
            "./09.yaml:9:1: error: document 2: ConfigMap app/cm-3 is defined twice; first defined in ./03.yaml:1 (document 1); kubectl would apply the second over the first",
            "./19.yaml:9:1: error: document 2: ConfigMap app/cm-3 is defined twice; first defined in ./03.yaml:1 (document 1); kubectl would apply the second over the first",
            "./25.yaml:16:1: error: document 3: ConfigMap default/plain is defined twice; first defined in ./25.yaml:9 (document 2); kubectl would apply the second over the first",
            "./29.yaml:9:1: error: document 2: ConfigMap app/cm-3 is defined twice; first defined in ./03.yaml:1 (document 1); kubectl would apply the second over the first",
        ],
        "{err}"
    );
    assert_eq!(stderr(&two), err);
    assert_eq!(stdout(&two), stdout(&one));
}
