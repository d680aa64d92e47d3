#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ one after the other, each for the given time, on the
# corpus kept in the repository (fuzz/corpus/<target>/), and prints executions per target.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]      default: 60 s, every target
#   FUZZ_CMIN=1 scripts/fuzz.sh 600 credentials           minimize the corpus afterwards
#   scripts/fuzz.sh --smoke [seconds-per-target]          CI: every target, default 20 s each
#
# Toolchain: `cargo +nightly` when rustup has nightly, else the machine's one `cargo` with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags only for a sanitizer). FUZZ_TOOLCHAIN=<name>
# picks `cargo +<name>` instead, FUZZ_TOOLCHAIN=default the plain `cargo`. FUZZ_FLAGS are
# passed to `cargo fuzz` (e.g. `--dev --sanitizer=none`). Needs cargo-fuzz
# (`cargo install cargo-fuzz --locked`). Runs at the lowest CPU priority (nice 19). New inputs are
# added to fuzz/corpus/<target>/; minimize before committing (FUZZ_CMIN=1). A crash leaves its
# input in fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ (replayed by the
# stable tests, see docs/hardening.md), fix, rerun. Exits 1 when a target found a crash.
#
# --smoke (tests/ci.sh): installs cargo-fuzz if missing, always uses the plain `cargo` (the
# toolchain the rest of CI uses; FUZZ_TOOLCHAIN still overrides), builds every target once
# unoptimized (but for wasmtime, see fuzz/Cargo.toml) and without a sanitizer (FUZZ_FLAGS
# overrides; a much cheaper build), then runs each on its committed corpus without changing it
# (new inputs go to a scratch directory). Prints the build time and the figures of each run.
set -euo pipefail

cd "$(dirname "$0")/.."
smoke=0
if [ "${1:-}" = --smoke ]; then
  smoke=1
  shift
fi
seconds="${1:-$([ "$smoke" = 1 ] && echo 20 || echo 60)}"
shift || true
all=(credentials sdk_decode yaml_loader strip_noise admission_review module_result)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"

# The cargo to run: nightly when there is one (normal runs), else the one cargo there is, told to
# accept the unstable options cargo-fuzz may pass.
cargo=(cargo)
toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ] && [ "$smoke" = 0 ] && cargo +nightly --version >/dev/null 2>&1; then
  toolchain=nightly
fi
case "$toolchain" in
  "" | default) export RUSTC_BOOTSTRAP=1 ;;
  nightly) cargo=(cargo +nightly) ;;
  *) cargo=(cargo "+$toolchain"); export RUSTC_BOOTSTRAP=1 ;;
esac
flags=()
if [ -n "${FUZZ_FLAGS+set}" ]; then
  read -r -a flags <<<"$FUZZ_FLAGS"
elif [ "$smoke" = 1 ]; then
  flags=(--dev --sanitizer=none)
fi

# Targets that link ws3-engine, ws3-lint or ws3-webhook (wasmtime) need the `heavy` feature. The
# smoke run builds them all with it, once.
features() {
  if [ "$smoke" = 1 ]; then echo "--features=heavy"; return; fi
  case "$1" in
    yaml_loader | strip_noise | admission_review | module_result) echo "--features=heavy" ;;
    *) echo "" ;;
  esac
}

for t in "${targets[@]}"; do
  case " ${all[*]} " in *" $t "*) ;; *) echo "unknown target: $t (one of: ${all[*]})" >&2; exit 2 ;; esac
done

if [ "$smoke" = 1 ]; then
  if ! "${cargo[@]}" fuzz --version >/dev/null 2>&1; then
    "${cargo[@]}" install --quiet --locked cargo-fuzz --version 0.13.2
  fi
  echo "== building the fuzz targets (${cargo[*]} fuzz build --features=heavy ${flags[*]})"
  started=$(date +%s)
  nice -n 19 "${cargo[@]}" fuzz build --features=heavy "${flags[@]}" >"$logs/build.log" 2>&1 \
    || { tail -n 40 "$logs/build.log" >&2; exit 1; }
  echo "   built in $(($(date +%s) - started)) s"
fi

status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log="$logs/$t.log"
  dirs=("fuzz/corpus/$t")
  if [ "$smoke" = 1 ]; then
    # libFuzzer adds new inputs to the first directory: a scratch one, not the repository's.
    scratch="$CARGO_TARGET_DIR/fuzz-smoke/$t"
    rm -rf "$scratch"
    mkdir -p "$scratch"
    dirs=("$scratch" "fuzz/corpus/$t")
  fi
  echo "== $t: ${seconds}s, corpus fuzz/corpus/$t ($(ls "fuzz/corpus/$t" | wc -l) files), log $log"
  # shellcheck disable=SC2046
  if nice -n 19 "${cargo[@]}" fuzz run $(features "$t") "${flags[@]}" "$t" "${dirs[@]}" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and fuzz/artifacts/$t/)"
    status=1
    tail -n 30 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  if [ "${FUZZ_CMIN:-0}" = 1 ] && [ "$smoke" = 0 ] && [ "$result" = ok ]; then
    echo "   minimizing fuzz/corpus/$t"
    # shellcheck disable=SC2046
    nice -n 19 "${cargo[@]}" fuzz cmin $(features "$t") "${flags[@]}" "$t" "fuzz/corpus/$t" >>"$log" 2>&1
  fi
  summary+=("$(printf '%-16s %8ss %12s execs %8s exec/s  %5s files  %s' "$t" "$seconds" \
    "${execs:-?}" "${secs:-?}" "$(ls "fuzz/corpus/$t" | wc -l)" "$result")")
done
echo
printf '%s\n' "${summary[@]}"
exit "$status"
