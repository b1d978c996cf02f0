#!/usr/bin/env bash
# Every fuzz target in the repository, one at a time (go test -fuzz takes
# one target per invocation), each for the given -fuzztime: a count of
# executions such as 50000x (what scripts/test.sh runs) or a duration.
#
#   scripts/fuzz.sh            50,000 executions each: the smoke run
#   scripts/fuzz.sh 60s        the long run, for a change to parsing,
#                              validation, the codec or a handler
#
# One target alone: go test -run='^$' -fuzz='^FuzzWire$' -fuzztime=60s ./internal/server/
#
# A failing input is written to the package's testdata/fuzz/<Target>/ and
# fails the run; commit it with the fix, as a regression. A time-boxed run
# can end while a worker is minimizing and report "context deadline
# exceeded" with no failing input (a known go test -fuzz quirk), which is
# not a finding: that alone is retried once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${1:-50000x}
mapfile -t fuzz_files < <(grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=.bin \
  --exclude-dir=testdata --exclude-dir=vendor 'func Fuzz' . | sort)
fuzz_targets=0
fuzz_out=$(mktemp)
for file in "${fuzz_files[@]}"; do
  pkg=./$(dirname "${file#./}")
  # Only real targets: func FuzzXxx(f *testing.F), at the start of a line.
  mapfile -t targets < <(grep -E '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' "$file" |
    grep -o 'func Fuzz[A-Za-z0-9_]*' | sed 's/^func //')
  for target in "${targets[@]}"; do
    echo "-- $pkg $target ($fuzztime)"
    for attempt in 1 2; do
      if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >"$fuzz_out" 2>&1; then
        tail -1 "$fuzz_out"; break
      fi
      cat "$fuzz_out"
      # A real finding writes its input; only the quirk above is retried.
      if grep -q "Failing input written" "$fuzz_out" || [ "$attempt" -eq 2 ] ||
         ! grep -q "context deadline exceeded" "$fuzz_out"; then
        rm -f "$fuzz_out"; exit 1
      fi
      echo "retrying $target once: the run ended without a failing input"
    done
    fuzz_targets=$((fuzz_targets + 1))
  done
done
rm -f "$fuzz_out"
if [ "$fuzz_targets" -eq 0 ]; then
  echo "no fuzz targets found: the discovery above is broken"; exit 1
fi
echo "fuzzed $fuzz_targets targets"
