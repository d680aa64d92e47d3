//! Replays a fuzz target's corpus (`fuzz/corpus/<target>/`) and crash regressions
//! (`fuzz/regressions/<target>/`) through its checks, on the stable toolchain: the test a
//! workspace crate includes next to the target's `checks` module.

use std::{
    fs,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
};

/// Runs `check` on every file of the target's corpus and regressions; fails naming every file
/// whose check panics, and when the corpus is missing or empty (the test must not pass on
/// nothing).
pub fn replay(repo: &Path, target: &str, check: fn(&[u8])) {
    let fuzz = repo.join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    let corpus = files
        .iter()
        .filter(|p| p.starts_with(fuzz.join("corpus")))
        .count();
    assert!(corpus > 0, "no corpus in fuzz/corpus/{target}");
    let mut failed = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} inputs fail the checks of fuzz target `{target}`:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}
