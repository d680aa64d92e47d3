//! Replays the `sdk_decode` fuzz target's corpus and crash regressions through the same checks the
//! target makes (`fuzz/checks/sdk_decode.rs`), on the stable toolchain. See docs/hardening.md.

#[path = "../../../fuzz/checks/sdk_decode.rs"]
mod checks;
#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[test]
fn fuzz_corpus_and_regressions_pass_the_checks() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    replay::replay(&repo, "sdk_decode", checks::check);
}
