//! The built-in rule modules through the linter: every rule fixture against its
//! `# ws3-expect: <rule-id>=<N>` header, and every rule README's `## Example` (at least one
//! finding) and `## Use instead` (none).

#![allow(
    clippy::unwrap_used,
    reason = "tests: a panic is a failing test with its message"
)]

use std::{
    fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use ws3_engine::Config;
use ws3_lint::{LintOptions, Linter, Report, input::SourceFile};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/rules")
}

fn linter() -> &'static Linter {
    static LINTER: OnceLock<Linter> = OnceLock::new();
    // No module cache: the tests compile each module once per run.
    LINTER.get_or_init(|| {
        Linter::load(&Config::default(), &[], &[], false).expect("the built-in rules load")
    })
}

fn lint(name: &str, text: &str) -> Report {
    linter().lint(
        vec![SourceFile::new(name, text)],
        &LintOptions {
            jobs: 2,
            ..LintOptions::default()
        },
    )
}

fn count(report: &Report, rule: &str) -> usize {
    report
        .diagnostics
        .iter()
        .filter(|d| d.rule == rule && !d.suppressed)
        .count()
}

/// Every rule crate with a README: (id, folder).
fn rule_folders() -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = fs::read_dir(rules_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// The rules whose crates have content; a crate still being written has an empty `lib.rs`
/// and no README, and is not built in yet.
fn written(folder: &Path) -> bool {
    folder.join("README.md").is_file()
}

/// `# ws3-expect: a=1, b=0` (also space-separated).
fn expectations(text: &str) -> Vec<(String, usize)> {
    let Some(line) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# ws3-expect:"))
    else {
        return Vec::new();
    };
    line.split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (id, n) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("bad expectation {pair:?}"));
            (
                id.trim().to_owned(),
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("bad count in {pair:?}")),
            )
        })
        .collect()
}

#[test]
fn every_written_rule_is_built_in() {
    let loaded: Vec<String> = linter().rule_infos().into_iter().map(|r| r.id).collect();
    for (id, folder) in rule_folders() {
        if written(&folder) {
            assert!(
                loaded.contains(&id),
                "{id} has a README but is not among the built-in rules {loaded:?}"
            );
        }
    }
}

#[test]
fn fixtures_match_their_expectations() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (_, folder) in rule_folders() {
        let Ok(entries) = fs::read_dir(folder.join("fixtures")) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|f| {
            f.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        }) {
            let text = fs::read_to_string(file).unwrap();
            let expected = expectations(&text);
            assert!(
                !expected.is_empty(),
                "{} has no `# ws3-expect:` header",
                file.display()
            );
            let report = lint(&file.display().to_string(), &text);
            assert!(
                report.problems.is_empty(),
                "{}: {:?}",
                file.display(),
                report.problems
            );
            for (rule, want) in expected {
                let got = count(&report, &rule);
                checked += 1;
                if got != want {
                    let found: Vec<String> = report
                        .diagnostics
                        .iter()
                        .filter(|d| d.rule == rule)
                        .map(|d| {
                            format!(
                                "  {}:{} {} ({})",
                                d.location.line, d.location.column, d.message, d.object
                            )
                        })
                        .collect();
                    failures.push(format!(
                        "{}: {rule}: expected {want}, found {got}\n{}",
                        file.display(),
                        found.join("\n")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 0, "no fixtures found");
}

/// The first ```yaml block after a `## <heading>` line.
fn yaml_block(readme: &str, heading: &str) -> Option<String> {
    let start = readme
        .lines()
        .position(|l| l.trim() == format!("## {heading}"))?;
    let mut lines = readme
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.trim_start().starts_with("```yaml"));
    lines.next()?;
    let block: Vec<&str> = lines
        .take_while(|l| !l.trim_start().starts_with("```"))
        .collect();
    Some(block.join("\n") + "\n")
}

#[test]
fn readme_examples_are_flagged_and_fixes_are_clean() {
    let mut checked = 0;
    for (id, folder) in rule_folders() {
        if !written(&folder) {
            continue;
        }
        let readme = fs::read_to_string(folder.join("README.md")).unwrap();
        let example = yaml_block(&readme, "Example")
            .unwrap_or_else(|| panic!("{id}: README has no ## Example yaml block"));
        let report = lint("example.yaml", &example);
        assert!(
            report.problems.is_empty(),
            "{id} example: {:?}",
            report.problems
        );
        assert!(
            count(&report, &id) >= 1,
            "{id}: the README example has no finding"
        );
        let fixed = yaml_block(&readme, "Use instead")
            .unwrap_or_else(|| panic!("{id}: README has no ## Use instead block"));
        let report = lint("fixed.yaml", &fixed);
        assert!(
            report.problems.is_empty(),
            "{id} fix: {:?}",
            report.problems
        );
        let left: Vec<_> = report
            .diagnostics
            .iter()
            .filter(|d| d.rule == id)
            .map(|d| &d.message)
            .collect();
        assert!(
            left.is_empty(),
            "{id}: the README fix still has findings: {left:?}"
        );
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn expectation_headers_parse() {
    assert_eq!(
        expectations("# ws3-expect: a=1\nkind: x"),
        vec![("a".to_owned(), 1)]
    );
    assert_eq!(
        expectations("# ws3-expect: a=1, b=0"),
        vec![("a".to_owned(), 1), ("b".to_owned(), 0)]
    );
}

/// The same StatefulSet written in different forms: the finding lands on its `emptyDir` line.
mod input_forms {
    use super::*;

    fn emptydir_at(name: &str, text: &str) -> Vec<(usize, usize)> {
        let report = lint(name, text);
        assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
        report
            .diagnostics
            .iter()
            .filter(|d| d.rule == "statefulset-emptydir-data")
            .map(|d| (d.location.line, d.location.column))
            .collect()
    }

    const STS: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      volumes:
        - name: data
          emptyDir: {}
      containers:
        - name: postgres
          image: postgres:16
          volumeMounts:
            - name: data
              mountPath: /var/lib/postgresql/data
";

    #[test]
    fn plain_yaml() {
        assert_eq!(emptydir_at("a.yaml", STS), vec![(15, 11)]);
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(
            emptydir_at("a.yaml", &STS.replace('\n', "\r\n")),
            vec![(15, 11)]
        );
    }

    #[test]
    fn after_comments_and_other_documents() {
        let text = format!(
            "# leading comment\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: db}}\n---\n{STS}"
        );
        assert_eq!(emptydir_at("a.yaml", &text), vec![(21, 11)]);
    }

    #[test]
    fn list_items() {
        let indented: String = STS.lines().map(|l| format!("    {l}\n")).collect();
        let text = format!("apiVersion: v1\nkind: List\nitems:\n  -\n{indented}");
        assert_eq!(emptydir_at("a.yaml", &text), vec![(19, 15)]);
    }

    #[test]
    fn anchors_and_merge_keys() {
        let text = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: &labels {app: db}
  template:
    metadata:
      labels: *labels
    spec:
      volumes:
        - &scratch
          name: data
          emptyDir: {}
      containers:
        - &pg
          name: postgres
          image: postgres:16
          volumeMounts:
            - name: data
              mountPath: /var/lib/postgresql/data
        - <<: *pg
          name: replica
";
        // Both containers mount the emptyDir volume: two findings, both at its definition.
        assert_eq!(emptydir_at("a.yaml", text), vec![(16, 11), (16, 11)]);
    }

    #[test]
    fn json() {
        let report = lint("a.yaml", STS);
        let json = report.objects[0].json.to_string();
        // Pretty-print so that fields are on their own lines.
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        )
        .unwrap();
        let line = pretty
            .lines()
            .position(|l| l.contains("\"emptyDir\""))
            .unwrap()
            + 1;
        let column = pretty.lines().nth(line - 1).unwrap().find('"').unwrap() + 1;
        assert_eq!(emptydir_at("a.json", &pretty), vec![(line, column)]);
    }
}
