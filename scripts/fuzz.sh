#!/usr/bin/env bash
# Run every cargo fuzz target (fuzz/fuzz_targets) for SECONDS each; print each target's
# executions. Needs a nightly toolchain (libFuzzer instrumentation) and cargo-fuzz (installed
# by scripts/bootstrap.sh --test where nightly is there); without nightly it says so and
# stops. Corpora and findings stay outside the clone, in $CORRAL_CACHE/fuzz.
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#        FUZZ_RUNS=N scripts/fuzz.sh 0 [TARGET...]   (N executions per target instead of a time)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
secs=${1:-20}
shift || true
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: skipped, no nightly toolchain here (cargo fuzz needs one)"
  exit 0
fi
out=$CORRAL_CACHE/fuzz
mkdir -p "$out"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz/fuzz_targets && ls ./*.rs | sed 's|^\./||; s|\.rs$||')
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); else limit=(-max_total_time="$secs"); fi
  log=$(cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$out/target" "$t" "$out/corpus/$t" -- \
        "${limit[@]}" -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1 2>&1) || {
    echo "$log" | tail -40
    echo "fuzz: $t FAILED (a crashing input is in $out/artifacts/$t)"
    exit 1
  }
  runs=$(echo "$log" | awk '/stat::number_of_executed_units/ {print $2}' | tail -1)
  took=$(echo "$log" | sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' | tail -1)
  echo "fuzz: $t ok, ${runs:-?} executions in ${took:-$secs} s"
done
