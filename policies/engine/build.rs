//! Embeds the built-in rule components from `policies/builtin/*.wasm` (built by
//! `cargo xtask build-rules` and committed, so that a plain `cargo install --path .` needs no wasm
//! toolchain).

use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../builtin");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut modules: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    modules.sort();
    // A ws3 without its rules would pass everything: refuse to build instead.
    assert!(
        !modules.is_empty(),
        "no rule components in {}: run `cargo xtask build-rules` (they are committed; a checkout without them is incomplete)",
        dir.display()
    );
    let mut out = String::from(
        "/// Built-in rule components: (file stem, bytes).\npub static BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    for module in &modules {
        println!("cargo:rerun-if-changed={}", module.display());
        let stem = module
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("module names are UTF-8");
        let abs = fs::canonicalize(module).expect("listed modules exist");
        out.push_str(&format!(
            "    ({stem:?}, include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}
