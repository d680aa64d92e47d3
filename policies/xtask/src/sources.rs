//! Hashes of the sources a rule component is built from: the rule crate (without its fixtures
//! and integration tests, which never reach the component),
//! the guest SDK, the WIT folder, the `[profile.wasm-rule]` section of the workspace's
//! `Cargo.toml` (how it is optimised) and the [`RUSTFLAGS`] of the build. A committed component whose recorded hash differs is stale.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

fn files(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if skip.contains(&name) || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            files(&path, skip, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Flags for every crate built for the rule modules (std included). A rule's shadow stack sits
/// in its linear memory, and the host resets every page of that memory after each evaluation:
/// 256 KiB (rather than the target's default 1 MiB) is several times what the deepest
/// Kubernetes object decode needs, and a fraction of the pages to reset.
pub const RUSTFLAGS: &str = "-Clink-arg=-zstack-size=262144";

/// The source hash of the rule crate in `rule_dir`.
pub fn hash(root: &Path, rule_dir: &Path) -> Result<String> {
    let mut all = Vec::new();
    files(rule_dir, &["fixtures", "target", "tests"], &mut all)?;
    files(&root.join("policies/sdk"), &["target", "tests"], &mut all)?;
    files(&root.join("policies/wit"), &[], &mut all)?;
    // Shared guest code: the credential detector the postgres rule links.
    let credentials = root.join("policies/credentials");
    if credentials.is_dir() {
        files(&credentials, &["target", "tests"], &mut all)?;
    }
    all.sort();
    let mut hasher = Sha256::new();
    hasher.update(build_profile(root).as_bytes());
    hasher.update([0]);
    hasher.update(RUSTFLAGS.as_bytes());
    hasher.update([0]);
    for file in &all {
        let rel = file.strip_prefix(root).unwrap_or(file);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        // Line endings must not make a checkout on another OS look stale.
        let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let text: Vec<u8> = text.into_iter().filter(|&b| b != b'\r').collect();
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(&text);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The `[profile.wasm-rule]` section of the workspace manifest, without comments and blank lines
/// (empty when there is none).
fn build_profile(root: &Path) -> String {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    let mut section = String::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[profile.wasm-rule]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            section.push_str(line);
            section.push('\n');
        }
    }
    section
}

/// Messages for every rule whose committed component is missing or stale.
pub fn stale(root: &Path, rules: &[(String, PathBuf)]) -> Result<Vec<String>> {
    let builtin = root.join("policies/builtin");
    let manifest = std::fs::read_to_string(builtin.join("SOURCES")).unwrap_or_default();
    let recorded = |id: &str| {
        manifest.lines().find_map(|l| {
            l.strip_prefix(id)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::trim)
        })
    };
    let mut out = Vec::new();
    for (id, dir) in rules {
        let component = builtin.join(format!("{id}.wasm"));
        if !component.is_file() {
            out.push(format!("{} is missing", component.display()));
            continue;
        }
        let now = hash(root, dir)?;
        match recorded(id) {
            Some(h) if h == now => {}
            Some(_) => out.push(format!(
                "{} is stale: its sources changed since it was built",
                component.display()
            )),
            None => out.push(format!(
                "{} has no recorded source hash in policies/builtin/SOURCES",
                component.display()
            )),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed components were built from the sources in this tree. Fails when a rule,
    /// the SDK or the WIT changed without `cargo xtask build-rules`.
    #[test]
    fn builtin_components_match_their_sources() {
        let root = crate::workspace_root();
        let rules = crate::rule_crates(&root).unwrap();
        assert!(!rules.is_empty(), "no rule crates found");
        let stale = stale(&root, &rules).unwrap();
        assert!(
            stale.is_empty(),
            "{}\nrun `cargo xtask build-rules`",
            stale.join("\n")
        );
    }

    #[test]
    fn hash_changes_with_a_source_file() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("policies/sdk")).unwrap();
        std::fs::create_dir_all(dir.join("policies/wit")).unwrap();
        std::fs::create_dir_all(dir.join("policies/rules/r/src")).unwrap();
        std::fs::write(dir.join("policies/rules/r/src/lib.rs"), "a").unwrap();
        let a = hash(&dir, &dir.join("policies/rules/r")).unwrap();
        std::fs::write(dir.join("policies/rules/r/src/lib.rs"), "b").unwrap();
        let b = hash(&dir, &dir.join("policies/rules/r")).unwrap();
        std::fs::write(dir.join("policies/rules/r/src/lib.rs"), "b\r").unwrap();
        let c = hash(&dir, &dir.join("policies/rules/r")).unwrap();
        assert_ne!(a, b);
        assert_eq!(b, c, "CR must not matter");
        // The optimisation profile counts; other manifest sections and comments do not.
        let manifest = "[workspace]\n\n[profile.wasm-rule]\n# small\nopt-level = \"s\"\n";
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        let d = hash(&dir, &dir.join("policies/rules/r")).unwrap();
        assert_ne!(c, d);
        std::fs::write(
            dir.join("Cargo.toml"),
            manifest
                .replace("# small", "# compact")
                .replace("[workspace]", "[workspace]\nmembers = []"),
        )
        .unwrap();
        assert_eq!(d, hash(&dir, &dir.join("policies/rules/r")).unwrap());
        std::fs::write(dir.join("Cargo.toml"), manifest.replace("\"s\"", "3")).unwrap();
        assert_ne!(d, hash(&dir, &dir.join("policies/rules/r")).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ws3-xtask-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
