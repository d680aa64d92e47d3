#!/usr/bin/env bash
# The ws3 pre-commit hooks, installed and run by the real pre-commit as a user's is: a git
# repository whose .pre-commit-config.yaml names a snapshot of this checkout (`repo:` a local
# clone, `rev:` its commit), pre-commit's own clone and hook environment in an empty
# PRE_COMMIT_HOME.
#
# (a) ws3-lint (language: rust): pre-commit runs `cargo install --bins --path .` in its clone.
# (b) ws3-lint-prebuilt (language: python): the ws3-lint wheel is built from this checkout
#     (`maturin build --release` in python/ws3-lint, the documented command) into a local index
#     directory, next to the setuptools wheel the hook package (pyproject.toml) builds with.
#     First the wheel alone, in a fresh virtualenv. Then pre-commit runs `pip install .` in its
#     clone, as for any user; PIP_NO_INDEX and PIP_FIND_LINKS make pip resolve
#     `ws3-lint==<version>` from that directory instead of PyPI, so the prebuilt wheel is what
#     gets installed (there is no sdist to fall back on) and nothing is published.
#     (a), (b): `pre-commit run --files bad.yaml` fails with the ws3 finding, good.yaml passes.
# (c) Both hooks at `git commit` (`pre-commit install`) in a repository whose Service,
#     NetworkPolicy and ConfigMaps are committed and unchanged, with one StatefulSet staged
#     (tests/precommit/repo/README.md): findings only for the staged file, every committed
#     manifest as context (`ws3-lint --git-context`, in both hooks' entries).
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
export GIT_AUTHOR_NAME=ws3 GIT_AUTHOR_EMAIL=ws3@example.invalid
export GIT_COMMITTER_NAME=ws3 GIT_COMMITTER_EMAIL=ws3@example.invalid

passed=0 failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# Rule ids of the findings in the hook's text output (`error[rule-id]`, `warning[rule-id]`).
rules_found() { grep -oE '(error|warning|info)\[[a-z0-9-]+\]' "$1" | sed -E 's/.*\[(.*)\]/\1/' | sort -u | tr '\n' ' ' || true; }
version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')

# The hook repository: this checkout as it is (tracked and untracked files, .gitignore
# respected) committed in a clone, like pre-commit try-repo's shadow repository.
hooks=$work/hooks
git clone --quiet --no-hardlinks "$root" "$hooks"
git -C "$root" ls-files -z --cached --others --exclude-standard |
  (cd "$root" && xargs -0 cp --parents --no-dereference -t "$hooks" 2>/dev/null || true)
git -C "$hooks" add -A
git -C "$hooks" commit --quiet --allow-empty -m "test snapshot"
rev=$(git -C "$hooks" rev-parse HEAD)

# new_repo DIR HOOK: an empty git repository whose pre-commit config runs HOOK from $hooks.
new_repo() {
  mkdir -p "$1"
  git -C "$1" init --quiet
  cat >"$1/.pre-commit-config.yaml" <<EOF
repos:
  - repo: $hooks
    rev: $rev
    hooks:
      - id: $2
EOF
  git -C "$1" add .pre-commit-config.yaml
  git -C "$1" commit --quiet -m "pre-commit config"
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
# The first run installs the hook: its time is printed.
bad_and_good() {
  local hook=$1 repo=$work/files-$1 log=$work/files-$1.log start status
  new_repo "$repo" "$hook"
  cp tests/precommit/bad.yaml tests/precommit/good.yaml "$repo"/
  start=$(date +%s%N)
  status=0
  (cd "$repo" && pre-commit run --verbose --color never --files bad.yaml) >"$log" 2>&1 || status=$?
  echo "time: $hook installed and ran in $(ms_since "$start") ms (first pre-commit run, empty PRE_COMMIT_HOME)"
  if [ "$status" = 0 ]; then
    cat "$log"; fail "$hook passed on tests/precommit/bad.yaml"
  elif ! grep -q 'error\[statefulset-emptydir-data\]' "$log"; then
    cat "$log"; fail "$hook failed on tests/precommit/bad.yaml without the ws3 finding"
  else
    pass "$hook: bad.yaml fails with error[statefulset-emptydir-data]"
  fi
  if (cd "$repo" && pre-commit run --verbose --color never --files good.yaml) >"$log" 2>&1; then
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
    local maturin=maturin start
    if ! command -v maturin >/dev/null; then
      python3 -m venv "$work/tools"
      "$work/tools/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.7,<2'
      maturin=$work/tools/bin/maturin
    fi
    start=$(date +%s%N)
    (cd python/ws3-lint && "$maturin" build --release --quiet --out "$index") >"$work/maturin.log" 2>&1 || {
      cat "$work/maturin.log"; fail "maturin build --release (python/ws3-lint)"; return 1; }
    echo "time: the ws3-lint wheel built in $(ms_since "$start") ms (maturin build --release in python/ws3-lint)"
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

# The hook's environment holds the wheel's binary, not a build.
installed_from_wheel() {
  local env_bin wheel_tag
  env_bin=$(find "$PRE_COMMIT_HOME" -path '*/py_env-*/bin/ws3-lint' | head -n 1)
  wheel_tag=$(find "$PRE_COMMIT_HOME" -path '*/py_env-*/ws3_lint-*.dist-info/WHEEL' -exec grep -h '^Tag:' {} + | head -n 1)
  if [ -n "$env_bin" ] && [ -n "$wheel_tag" ]; then
    pass "ws3-lint-prebuilt environment: '$("$env_bin" --version)' installed from the wheel ($wheel_tag)"
  else
    fail "no ws3-lint wheel installed in the ws3-lint-prebuilt environment"
  fi
}

# case_c HOOK STAGED WANT: `git commit` of tests/precommit/repo/staged/STAGED as
# statefulset.yaml over the committed context; WANT is the rule id that must stop the commit,
# empty when the commit must go through.
case_c() {
  local hook=$1 staged=$2 want=$3 repo log status=0 found
  repo=$work/repo-$hook-${staged%.yaml}
  log=$repo.log
  new_repo "$repo" "$hook"
  cp -R tests/precommit/repo/committed/. "$repo"/
  git -C "$repo" add .
  git -C "$repo" commit --quiet --no-verify -m context
  (cd "$repo" && pre-commit install >/dev/null)
  cp "tests/precommit/repo/staged/$staged" "$repo/statefulset.yaml"
  git -C "$repo" add statefulset.yaml
  (cd "$repo" && PRE_COMMIT_COLOR=never git commit --quiet -m "$staged") >"$log" 2>&1 || status=$?
  found=$(rules_found "$log")
  local what="(c) $hook, git commit of $staged: exit $status, findings: ${found:-none}" ok=1
  if [ -z "$want" ]; then
    [ "$status" = 0 ] || ok=0
  else
    [ "$status" != 0 ] && [ "$found" = "$want " ] || ok=0
  fi
  # Context files are never reported.
  if grep -qE '(configmaps|service|netpol|namespace|chart/templates/configmap)\.yaml:[0-9]' "$log"; then
    ok=0
    what+=", reports a committed file"
  fi
  if [ "$ok" = 1 ]; then pass "$what"; else cat "$log"; fail "$what; want ${want:-none}"; fi
}

for part in $parts; do
  case $part in
  a)
    echo "== (a) ws3-lint: language rust, cargo install in pre-commit's clone"
    bad_and_good ws3-lint
    ;;
  b)
    echo "== (b) ws3-lint-prebuilt: language python, the wheel from a local index directory"
    check_versions
    make_index
    wheel_in_fresh_venv
    bad_and_good ws3-lint-prebuilt
    installed_from_wheel
    ;;
  c)
    echo "== (c) the hooks at git commit: a staged StatefulSet, committed context"
    [ -n "${index:-}" ] || make_index
    for hook in ws3-lint-prebuilt ws3-lint; do
      case_c "$hook" good.yaml ""
      case_c "$hook" missing-service.yaml statefulset-headless-service
      case_c "$hook" env-from-legacy.yaml postgres-credentials-in-configmap
    done
    ;;
  *) echo "unknown part $part (a, b or c)"; exit 2 ;;
  esac
done

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
