#!/usr/bin/env bash
# Builds and runs the ws3-lint pre-commit hook exactly as a user's pre-commit does
# (`pre-commit try-repo`, which runs `cargo install --bins --path .`), on a bad and a good
# manifest: the bad one must fail with the ws3 message, the good one must pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v pre-commit >/dev/null || { echo "pre-commit is not installed (python3 -m pip install pre-commit)"; exit 1; }
PRE_COMMIT_HOME=$(mktemp -d)
export PRE_COMMIT_HOME
trap 'rm -rf "$PRE_COMMIT_HOME"' EXIT
# Reuse this checkout's release build instead of compiling wasmtime a second time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

out=$(pre-commit try-repo . ws3-lint --verbose --color never --files tests/precommit/bad.yaml 2>&1) && {
  echo "$out"; echo "FAIL: the hook passed on tests/precommit/bad.yaml"; exit 1; }
echo "$out" | grep -q 'error\[statefulset-emptydir-data\]' || {
  echo "$out"; echo "FAIL: the hook failed without the ws3 finding"; exit 1; }
echo "ok: bad.yaml fails with error[statefulset-emptydir-data]"

out=$(pre-commit try-repo . ws3-lint --verbose --color never --files tests/precommit/good.yaml 2>&1) || {
  echo "$out"; echo "FAIL: the hook failed on tests/precommit/good.yaml"; exit 1; }
echo "ok: good.yaml passes"
echo "2 passed, 0 failed"
