//! Replays the `credentials` fuzz target's corpus and crash regressions through the same checks the
//! target makes (`fuzz/checks/credentials.rs`), on the stable toolchain. See docs/hardening.md.

#[path = "../../../fuzz/checks/credentials.rs"]
mod checks;
#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[test]
fn fuzz_corpus_and_regressions_pass_the_checks() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    replay::replay(&repo, "credentials", checks::check);
}
