#!/usr/bin/env bash
# Runs every check and test of ws3 on a fresh Debian bookworm machine (or any machine with the
# tools below): installs what is missing, tests the committed rule components (what users get),
# then rebuilds them from source and checks the rebuild is identical.
# Usage: bash tests/ci.sh        (the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

step "toolchain for the wasm rules"
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "rustup has wasm32-unknown-unknown"
elif [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  echo "using Debian's rustc-web"
else
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null
fi

step "tools for the end-to-end tests (pre-commit, openssl)"
command -v openssl >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq openssl >/dev/null; }
if ! command -v pre-commit >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'pre-commit>=3,<5'
fi

step "committed rule components match their sources"
cargo xtask check-rules

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "no unused dependencies"
if ! command -v cargo-machete >/dev/null; then
  cargo install --quiet --locked cargo-machete --version 0.9.2
fi
cargo machete

step "tests (with the committed rule components)"
cargo test --workspace --no-fail-fast

step "fuzz targets: each runs 20 s on its committed corpus (scripts/fuzz.sh --smoke)"
bash scripts/fuzz.sh --smoke 20

step "the committed rule components are what their sources build"
cargo xtask build-rules
if ! git diff --quiet -- policies/builtin; then
  git diff --stat -- policies/builtin
  echo "the rule components built from source differ from the committed ones: run \`cargo xtask build-rules\`"
  echo "with the toolchain the README names and commit policies/builtin (or the build is not reproducible here)"
  exit 1
fi

step "README main command: lint the bundled examples"
set +e
cargo run --release --quiet -- tests/fixtures/course > target/readme-main.txt
status=$?
set -e
tail -n 3 target/readme-main.txt
[ "$status" = 1 ] || { echo "expected exit code 1 (findings), got $status"; exit 1; }

step "pre-commit hook, built and run as pre-commit does"
bash tests/precommit/test.sh

step "serving-cert tooling and Helm chart"
sh certs/test.sh
sh charts/test.sh

step "ws3-webhook container image: podman build offline, checked in a chroot of its root filesystem"
if ! command -v podman >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null
fi
bash tests/container/test.sh

echo
echo "all checks passed"
