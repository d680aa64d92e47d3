#!/usr/bin/env bash
# The ws3 pre-commit hooks, installed and run by the real pre-commit as a user's pre-commit does
# (`pre-commit try-repo`: a clone of this checkout, the hook's own environment in an empty
# PRE_COMMIT_HOME):
#
# (a) ws3-lint (language: rust): pre-commit runs `cargo install --bins --path .`.
# (b) ws3-lint-prebuilt (language: python): the ws3-lint wheel is built from this checkout
#     (python/ws3-lint) into a local index directory, next to the setuptools wheel the hook
#     package builds with. pre-commit runs `pip install .` on its clone, as for any user;
#     PIP_NO_INDEX and PIP_FIND_LINKS make pip resolve `ws3-lint==<version>` from that directory
#     instead of PyPI, so the prebuilt wheel is what gets installed (there is no sdist to fall
#     back on) and nothing is published.
#     Both: tests/precommit/bad.yaml fails with the ws3 finding, good.yaml passes.
# (c) Both hooks in a git repository whose Service, NetworkPolicy and ConfigMaps are committed
#     and unchanged, with one StatefulSet staged (tests/precommit/repo/README.md): findings only
#     for the staged file, every committed manifest as context (`ws3-lint --git-context`).
#     While the hook entries lack `--git-context`, (c) is expected to fail and counted as
#     skipped; once an entry has it, (c) must pass.
#
# Usage: bash tests/precommit/test.sh [a|b|c]...   (default: all)
#   WS3_WHEEL_DIR=DIR  use the ws3_lint-*.whl in DIR instead of building it.
# The first run of each hook (its install) is timed and printed; nothing asserts a time.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
parts=${*:-a b c}
command -v pre-commit >/dev/null || { echo "pre-commit is not installed (python3 -m pip install pre-commit)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PRE_COMMIT_HOME=$work/pre-commit-home
# Reuse this checkout's release build instead of compiling wasmtime a second time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

passed=0 failed=0 skipped=0
version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# Rule ids of the findings in the hook's text output (`error[rule-id]`, `warning[rule-id]`).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
rules_found() { grep -oE '(error|warning|info)\[[a-z0-9-]+\]' <<<"$1" | sed -E 's/.*\[(.*)\]/\1/' | sort -u | tr '\n' ' '; }

# try_repo LOG HOOK ARGS...: `pre-commit try-repo` of this checkout, output in LOG, its exit code
# returned.
try_repo() {
  local log=$1 hook=$2
  shift 2
  local status=0
  pre-commit try-repo "$root" "$hook" --verbose --color never "$@" >"$log" 2>&1 || status=$?
  return "$status"
}

# The versions the wheel hook depends on must be the Cargo package's.
check_versions() {
  local out
  if out=$(python3 - <<'EOF'
import tomllib
cargo = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"]
hook = tomllib.load(open("pyproject.toml", "rb"))["project"]
want = [f"ws3-lint=={cargo}"]
problems = []
if hook["version"] != cargo:
    problems.append(f"pyproject.toml version {hook['version']} != Cargo.toml {cargo}")
if hook["dependencies"] != want:
    problems.append(f"pyproject.toml dependencies {hook['dependencies']} != {want}")
print("; ".join(problems) or cargo)
raise SystemExit(1 if problems else 0)
EOF
  ); then
    pass "pyproject.toml (the ws3-lint-prebuilt hook package) pins ws3-lint==$out, the Cargo version"
  else
    fail "$out"
  fi
}

# bad_and_good HOOK: the hook fails on bad.yaml with the emptyDir finding and passes good.yaml.
# The first call installs the hook: its time is printed.
bad_and_good() {
  local hook=$1 log=$work/$1.log start
  start=$(date +%s%N)
  if try_repo "$log" "$hook" --files tests/precommit/bad.yaml; then
    cat "$log"; fail "$hook passed on tests/precommit/bad.yaml"
  elif ! grep -q 'error\[statefulset-emptydir-data\]' "$log"; then
    cat "$log"; fail "$hook failed on tests/precommit/bad.yaml without the ws3 finding"
  else
    pass "$hook: bad.yaml fails with error[statefulset-emptydir-data]"
  fi
  echo "time: $hook installed and ran in $(ms_since "$start") ms (first run, empty PRE_COMMIT_HOME)"
  if try_repo "$log" "$hook" --files tests/precommit/good.yaml; then
    pass "$hook: good.yaml passes"
  else
    cat "$log"; fail "$hook failed on tests/precommit/good.yaml"
  fi
}

# The local index directory: the ws3-lint wheel of this checkout and the build backend of the
# hook package (pyproject.toml).
make_index() {
  index=$work/index
  mkdir -p "$index"
  if [ -n "${WS3_WHEEL_DIR:-}" ]; then
    cp "$WS3_WHEEL_DIR"/ws3_lint-*.whl "$index"/
  else
    local start
    start=$(date +%s%N)
    python3 -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$index" ./python/ws3-lint
    echo "time: the ws3-lint wheel built in $(ms_since "$start") ms (pip wheel ./python/ws3-lint)"
  fi
  python3 -m pip download --quiet --disable-pip-version-check --only-binary :all: --dest "$index" 'setuptools>=61'
  ls "$index"
  # From here on pip (in pre-commit's hook environments) sees only this directory.
  export PIP_NO_INDEX=1 PIP_FIND_LINKS=$index PIP_DISABLE_PIP_VERSION_CHECK=1
}

# The wheel alone, as `pip install ws3-lint` gives it: a fresh virtualenv, then the README's
# example (the course manifests have findings: exit 1).
wheel_in_fresh_venv() {
  local venv=$work/venv wheel out status=0
  wheel=$(ls "$index"/ws3_lint-*.whl)
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --no-index "$wheel"
  out=$("$venv/bin/ws3-lint" --version)
  if [ "$out" = "ws3-lint $version" ]; then
    pass "pip install $(basename "$wheel") in a fresh venv: ws3-lint --version prints '$out'"
  else
    fail "ws3-lint --version from the wheel printed '$out', want 'ws3-lint $version'"
  fi
  "$venv/bin/ws3-lint" tests/fixtures/course >"$work/course.txt" 2>&1 || status=$?
  if [ "$status" = 1 ] && grep -q 'error\[' "$work/course.txt"; then
    pass "ws3-lint from the wheel on tests/fixtures/course: exit 1, $(tail -n 1 "$work/course.txt")"
  else
    tail -n 20 "$work/course.txt"
    fail "ws3-lint from the wheel on tests/fixtures/course: exit $status, want 1 with findings"
  fi
}

case_c() {
  local hook=$1 staged=$2 want=$3 with_context=$4 repo log status=0 found
  repo=$work/repo-$hook-${staged%.yaml}
  log=$repo.log
  mkdir -p "$repo"
  cp tests/precommit/repo/committed/*.yaml "$repo"/
  (
    cd "$repo"
    git init -q .
    git -c user.name=ws3 -c user.email=ws3@example.invalid commit -q --allow-empty -m init
    git add . && git -c user.name=ws3 -c user.email=ws3@example.invalid commit -q -m context
    cp "$root/tests/precommit/repo/staged/$staged" statefulset.yaml
    git add statefulset.yaml
    # No --files: the staged files, as in `git commit`.
    pre-commit try-repo "$root" "$hook" --verbose --color never
  ) >"$log" 2>&1 || status=$?
  found=$(rules_found "$(cat "$log")")
  local what="(c) $hook, staged $staged: exit $status, findings: ${found:-none}"
  local ok=1
  if [ -z "$want" ]; then
    [ "$status" = 0 ] || ok=0
  else
    [ "$status" != 0 ] && [ "$found" = "$want " ] || ok=0
  fi
  # Context files are never reported.
  if grep -qE '(configmaps|service|netpol|namespace)\.yaml:[0-9]' "$log"; then ok=0; what+=", reports a committed file"; fi
  if [ "$with_context" = 1 ]; then
    if [ "$ok" = 1 ]; then pass "$what"; else cat "$log"; fail "$what; want ${want:-none}"; fi
  else
    if [ "$ok" = 1 ]; then
      cat "$log"; fail "$what: passes although the hook entry has no --git-context; update this test"
    else
      echo "expected failure (no --git-context in the hook entry yet): $what; want ${want:-none}"
      skipped=$((skipped + 1))
    fi
  fi
}

for part in $parts; do
  case $part in
  a)
    echo "== (a) ws3-lint: language rust, cargo install from this checkout"
    bad_and_good ws3-lint
    ;;
  b)
    echo "== (b) ws3-lint-prebuilt: language python, the wheel from a local index directory"
    check_versions
    make_index
    wheel_in_fresh_venv
    bad_and_good ws3-lint-prebuilt
    # The hook's environment holds the wheel's binary, not a build.
    env_bin=$(find "$PRE_COMMIT_HOME" -path '*py_env-*/bin/ws3-lint' | head -n 1)
    wheel_tag=$(find "$PRE_COMMIT_HOME" -path '*py_env-*/ws3_lint-*.dist-info/WHEEL' -exec grep -h '^Tag:' {} + | head -n 1)
    if [ -n "$env_bin" ] && [ -n "$wheel_tag" ]; then
      pass "ws3-lint-prebuilt environment: $("$env_bin" --version) from the wheel ($wheel_tag)"
    else
      fail "no ws3-lint wheel installed in the ws3-lint-prebuilt environment"
    fi
    ;;
  c)
    echo "== (c) the hooks in a repository: staged StatefulSet, committed context"
    if [ -z "${index:-}" ]; then make_index; fi
    for hook in ws3-lint-prebuilt ws3-lint; do
      with_context=0
      python3 - "$hook" <<'EOF' && with_context=1
import sys, yaml
hook = next(h for h in yaml.safe_load(open(".pre-commit-hooks.yaml")) if h["id"] == sys.argv[1])
raise SystemExit(0 if "--git-context" in hook["entry"].split() else 1)
EOF
      case_c "$hook" good.yaml "" "$with_context"
      case_c "$hook" missing-service.yaml statefulset-headless-service "$with_context"
      case_c "$hook" env-from-legacy.yaml postgres-credentials-in-configmap "$with_context"
    done
    ;;
  *) echo "unknown part $part (a, b or c)"; exit 2 ;;
  esac
done

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
