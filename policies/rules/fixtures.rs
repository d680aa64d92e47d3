//! The fixtures of a rule crate, natively: each file's `# ws3-expect: <rule-id>=<N>` count for the
//! rule under test, linted with the engine's `lint_set` (the linter's semantics, natively). Shared by the rule crates' tests
//! (`#[path = "../../fixtures.rs"] mod fixtures;`); `tests/rules.rs` runs the same files through
//! the built components.

use std::path::Path;

use serde_json::Value;
use ws3_engine::testing::lint_set;
use ws3_policy_sdk::Rule;

/// The objects of fixture `name` in `crate_dir/fixtures`.
pub fn load(crate_dir: &str, name: &str) -> Vec<Value> {
    let path = Path::new(crate_dir).join("fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|o| !o.is_null())
        .collect()
}

/// The count `# ws3-expect:` gives rule `id` in `text` (`None` when the header does not name it).
fn expected(text: &str, id: &str) -> Option<usize> {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# ws3-expect:"))?;
    line.split([',', ' ']).find_map(|pair| {
        let (rule, n) = pair.split_once('=')?;
        (rule.trim() == id).then(|| n.trim().parse().expect("a count"))
    })
}

/// Checks every fixture of the crate against its expectation for `R`. `pending` lists fixtures
/// whose count depends on what the hosts do and the native harness does not yet (with the
/// reason); they must still miss, so that the list shrinks as soon as they pass.
pub fn check_all<R: Rule + 'static>(crate_dir: &str, pending: &[(&str, &str)]) {
    let dir = Path::new(crate_dir).join("fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    let mut failures = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(dir.join(name)).expect("a fixture");
        let Some(want) = expected(&text, R::META.id) else {
            continue;
        };
        let findings = lint_set::<R>(&load(crate_dir, name));
        let got = findings.len();
        match pending.iter().find(|(p, _)| p == name) {
            Some((_, why)) if got == want => failures.push(format!(
                "{name} now passes natively ({why}): take it off the pending list"
            )),
            Some(_) => {}
            None if got != want => {
                let found: Vec<String> = findings
                    .iter()
                    .map(|f| format!("  {}: {}", f.path, f.message))
                    .collect();
                failures.push(format!(
                    "{name}: expected {want}, found {got}\n{}",
                    found.join("\n")
                ));
            }
            None => {}
        }
    }
    assert!(names.len() > 3, "too few fixtures in {}", dir.display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
