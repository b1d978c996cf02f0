#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this) and as the README
# tells a newcomer to run it. Needs only Go; installs its pinned tools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "tools"
scripts/tools.sh buf protoc-gen-go protoc-gen-go-grpc
scripts/system-deps.sh

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.bin/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "buf lint"
.bin/buf lint

step "generated code is up to date"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
.bin/buf generate --output "$tmp"
if ! diff -r -q "$tmp/proto" proto --exclude='*.proto' --exclude='*.md' --exclude=third_party; then
  echo "generated code is stale: run scripts/generate.sh and commit the result"; exit 1
fi

if git rev-parse --verify -q main >/dev/null 2>&1; then
  step "buf breaking against main"
  .bin/buf breaking --against ".git#branch=main"
fi

step "container build step (the Dockerfile's go build, run here)"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/riskd" ./cmd/riskd
if ldd "$tmp/riskd" >/dev/null 2>&1; then
  echo "riskd is dynamically linked; distroless/static cannot run it"; exit 1
fi

step "go test -race"
# One package at a time: several packages start real servers, fsync under
# load and measure deadlines; on two cores, running them side by side
# measures the neighbours, not the code.
go test -race -count=1 -p 1 -timeout 12m ./...

step "fuzz (short)"
# Every fuzz target in the repository for a few seconds: a smoke run that
# the seeds and the targets still hold, not a search. go test -fuzz takes
# one target per invocation, so they run one at a time. A failing input is
# written to the package's testdata/fuzz/<Target>/ and fails this step;
# commit it with the fix, as a regression.
#
# The longer run, for a change to parsing, validation or a handler, is the
# same with -fuzztime=60s, a target at a time, for example:
#   go test -run='^$' -fuzz='^FuzzCheckSeller$' -fuzztime=60s ./internal/server/
# (FUZZTIME=60s scripts/test.sh runs every target that long, after the rest.)
# A count of executions, not a duration: a time-boxed run can end while a
# worker is minimizing and report "context deadline exceeded" with no
# failing input (a known go test -fuzz quirk), which is not a finding.
fuzztime=${FUZZTIME:-50000x}
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
