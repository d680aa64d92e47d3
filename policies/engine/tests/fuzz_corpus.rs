//! Replays the corpora and crash regressions of the fuzz targets that exercise ws3-engine through
//! the same checks the targets make, on the stable toolchain: `strip_noise`
//! (`fuzz/checks/strip_noise.rs`) and `module_result` (`fuzz/checks/module_result.rs`). See
//! docs/hardening.md.

#[path = "../../../fuzz/checks/module_result.rs"]
mod module_result;
#[path = "../../../fuzz/checks/replay.rs"]
mod replay;
#[path = "../../../fuzz/checks/strip_noise.rs"]
mod strip_noise;

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn strip_noise_corpus_and_regressions_pass_the_checks() {
    replay::replay(&repo(), "strip_noise", strip_noise::check);
}

#[test]
fn module_result_corpus_and_regressions_pass_the_checks() {
    replay::replay(&repo(), "module_result", module_result::check);
}
