//! Replays the `admission_review` fuzz target's corpus and crash regressions through the same
//! checks the target makes (`fuzz/checks/admission_review.rs`), on the stable toolchain. See
//! docs/hardening.md.

#[path = "../../fuzz/checks/admission_review.rs"]
mod checks;
#[path = "../../fuzz/checks/replay.rs"]
mod replay;

#[test]
fn fuzz_corpus_and_regressions_pass_the_checks() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    replay::replay(&repo, "admission_review", checks::check);
}
