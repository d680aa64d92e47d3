//! Developer tasks for ws3.
//!
//! - `cargo xtask build-rules` builds every crate in `policies/rules/` for
//!   `wasm32-unknown-unknown`, turns each core module into a component and writes it to
//!   `policies/builtin/<rule-id>.wasm`, with the hash of the sources it came from in
//!   `policies/builtin/SOURCES`.
//! - `cargo xtask check-rules` fails when a committed component no longer matches its sources.
//! - `cargo xtask loc` prints the lines of logic of each rule crate and of the SDK (no blank
//!   lines, comments or tests; see `loc.rs`).
//!
//! Toolchain: rustup's `wasm32-unknown-unknown` target where installed; otherwise Debian's
//! `rustc-web` packages with their std sources (`-Zbuild-std`); otherwise it stops and says
//! what to install.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

mod loc;
mod sources;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-rule";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_STD_SRC: &str = "/usr/lib/rustlib/src/rust/library";

fn main() -> Result<()> {
    let root = workspace_root();
    match env::args().nth(1).as_deref() {
        Some("build-rules") => build_rules(&root),
        Some("check-rules") => check_rules(&root),
        Some("loc") => loc::report(&root, &rule_crates(&root)?),
        _ => {
            eprintln!("usage: cargo xtask <build-rules | check-rules | loc>");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> PathBuf {
    // policies/xtask -> repository root
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// How to invoke cargo for the wasm target.
enum Toolchain {
    /// rustup with the target installed.
    Rustup,
    /// Debian's rustc-web with std sources.
    Debian,
}

fn detect_toolchain() -> Result<Toolchain> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    if let Ok(out) = installed
        && out.status.success()
        && String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == TARGET)
    {
        return Ok(Toolchain::Rustup);
    }
    let debian_version = Command::new(DEBIAN_CARGO).arg("--version").output();
    if let Ok(out) = debian_version
        && out.status.success()
        && Path::new(DEBIAN_STD_SRC).is_dir()
    {
        let version = String::from_utf8_lossy(&out.stdout);
        let minor: u32 = version
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.split('.').nth(1))
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if minor >= 89 {
            return Ok(Toolchain::Debian);
        }
    }
    bail!(
        "no Rust toolchain that can build {TARGET} was found. Install one of:\n  \
         - rustup target add {TARGET}\n  \
         - apt-get install -y rustc-web cargo-web rust-web-src rust-web-llvm lld-22   (Debian bookworm)"
    )
}

fn rule_crates(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir = root.join("policies/rules");
    let mut rules = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file() {
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .context("rule folder names are UTF-8")?
                .to_owned();
            rules.push((id, path));
        }
    }
    rules.sort();
    Ok(rules)
}

fn build_rules(root: &Path) -> Result<()> {
    let toolchain = detect_toolchain()?;
    let rules = rule_crates(root)?;
    let target_dir = root.join("target/wasm");
    let mut cmd = match toolchain {
        Toolchain::Rustup => {
            eprintln!(
                "building {} rules with rustup's {TARGET} target",
                rules.len()
            );
            Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        }
        Toolchain::Debian => {
            eprintln!(
                "building {} rules with Debian's rustc-web and -Zbuild-std (the first build compiles std)",
                rules.len()
            );
            let mut cmd = Command::new(DEBIAN_CARGO);
            let path = env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("/usr/bin:{path}"))
                .env("RUSTC_BOOTSTRAP", "1");
            // rustup's variables would send Debian's cargo back to the rustup toolchain.
            for var in [
                "RUSTUP_TOOLCHAIN",
                "RUSTC",
                "RUSTDOC",
                "CARGO",
                "RUSTC_WRAPPER",
                "RUSTUP_HOME",
            ] {
                cmd.env_remove(var);
            }
            cmd.args(["-Zbuild-std=std,panic_abort"]);
            cmd
        }
    };
    // Target flags (not RUSTFLAGS, which would also reach the build scripts of the host).
    cmd.env(
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
        sources::RUSTFLAGS,
    );
    cmd.current_dir(root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
            "--target-dir",
        ])
        .arg(&target_dir);
    for (id, _) in &rules {
        cmd.args(["-p", &format!("ws3-rule-{id}")]);
    }
    let status = cmd.status().context("running cargo for the wasm build")?;
    if !status.success() {
        bail!("the wasm build of the rules failed ({status})");
    }
    let out_dir = root.join("policies/builtin");
    std::fs::create_dir_all(&out_dir)?;
    let mut manifest = String::from(
        "# Source hashes of the committed components (cargo xtask build-rules writes this file;\n# cargo xtask check-rules and the xtask tests compare it with the sources).\n",
    );
    for (id, dir) in &rules {
        let core = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("ws3_rule_{}.wasm", id.replace('-', "_")));
        let bytes = std::fs::read(&core).with_context(|| format!("reading {}", core.display()))?;
        let component = wit_component::ComponentEncoder::default()
            .module(&bytes)
            .and_then(|e| e.validate(true).encode())
            .with_context(|| format!("turning {} into a component", core.display()))?;
        let dest = out_dir.join(format!("{id}.wasm"));
        std::fs::write(&dest, &component).with_context(|| format!("writing {}", dest.display()))?;
        let hash = sources::hash(root, dir)?;
        manifest.push_str(&format!("{id} {hash}\n"));
        eprintln!(
            "  {id}: {} KiB core -> {} KiB component",
            bytes.len() / 1024,
            component.len() / 1024
        );
    }
    std::fs::write(out_dir.join("SOURCES"), manifest)?;
    eprintln!("wrote {} components to {}", rules.len(), out_dir.display());
    Ok(())
}

fn check_rules(root: &Path) -> Result<()> {
    let stale = sources::stale(root, &rule_crates(root)?)?;
    if stale.is_empty() {
        eprintln!("built-in rule components match their sources");
        Ok(())
    } else {
        bail!(
            "{}\nrun `cargo xtask build-rules` and commit policies/builtin/",
            stale.join("\n")
        )
    }
}
