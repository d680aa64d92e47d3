#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ one after the other, each for the given time, on the
# corpus kept in the repository (fuzz/corpus/<target>/), and prints executions per target.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]      default: 60 s, every target
#   FUZZ_CMIN=1 scripts/fuzz.sh 600 credentials           minimize the corpus afterwards
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). Runs at the
# lowest CPU priority (nice 19). New inputs are added to fuzz/corpus/<target>/; minimize before
# committing (FUZZ_CMIN=1). A crash leaves its input in fuzz/artifacts/<target>/: copy it to
# fuzz/regressions/<target>/ (replayed by the stable tests, see docs/hardening.md), fix, rerun.
# Exits 1 when a target found a crash.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
all=(credentials sdk_decode yaml_loader strip_noise)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"

# Targets that link ws3-engine or ws3-lint (wasmtime) need the `heavy` feature.
features() {
  case "$1" in
    yaml_loader | strip_noise) echo "--features=heavy" ;;
    *) echo "" ;;
  esac
}

status=0
summary=()
for t in "${targets[@]}"; do
  case " ${all[*]} " in *" $t "*) ;; *) echo "unknown target: $t (one of: ${all[*]})" >&2; exit 2 ;; esac
  mkdir -p "fuzz/corpus/$t"
  log="$logs/$t.log"
  echo "== $t: ${seconds}s, corpus fuzz/corpus/$t ($(ls "fuzz/corpus/$t" | wc -l) files), log $log"
  # shellcheck disable=SC2046
  if nice -n 19 cargo +nightly fuzz run $(features "$t") "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and fuzz/artifacts/$t/)"
    status=1
    tail -n 30 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  if [ "${FUZZ_CMIN:-0}" = 1 ] && [ "$result" = ok ]; then
    echo "   minimizing fuzz/corpus/$t"
    nice -n 19 cargo +nightly fuzz cmin $(features "$t") "$t" "fuzz/corpus/$t" >>"$log" 2>&1
  fi
  summary+=("$(printf '%-12s %8ss %12s execs %8s exec/s  %5s files  %s' "$t" "$seconds" \
    "${execs:-?}" "${secs:-?}" "$(ls "fuzz/corpus/$t" | wc -l)" "$result")")
done
echo
printf '%s\n' "${summary[@]}"
exit "$status"
