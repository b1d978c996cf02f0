#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this) and as the README
# tells a newcomer to run it. Needs only Go; installs its pinned tools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Each step says when it starts, in seconds since the suite began, so a
# slow step shows in CI's log (the suite must stay under 15 minutes on the
# 2-core machines).
step() { printf '\n== %s (at %ds)\n' "$*" "$SECONDS"; }

step "tools"
# grpcurl: cmd/riskd's test calls riskd with it from the protos alone.
scripts/tools.sh buf protoc-gen-go protoc-gen-go-grpc grpcurl
scripts/system-deps.sh
# jaeger: the trace backend of the tests in jaeger_tests. It is built from
# source, minutes of CPU with a cold Go build cache (seconds after, when
# its stamp skips it), so it builds in the background while the other
# tests run, and the tests that need it run in a step of their own once it
# is there. (A wall-clock cost, not a loosening: they run on every run.)
jaeger_tests='^(TestTraceReachesJaeger|TestCollectorConfigIsValid)$'
jaeger_log=$(mktemp)
scripts/tools.sh jaeger >"$jaeger_log" 2>&1 &
jaeger_build=$!

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
# On any exit: stop the Jaeger build if a failed step left it running.
tmp=$(mktemp -d); trap 'pkill -P "$jaeger_build" 2>/dev/null || true; kill "$jaeger_build" 2>/dev/null || true; rm -rf "$tmp" "$jaeger_log"; printf "\n== done in %ds\n" "$SECONDS"' EXIT
.bin/buf generate --output "$tmp"
# proto/buf is protovalidate's vendored source (with its README and
# LICENSE), not generated: Go code imports validate from the
# buf.build/gen/go module, so generating it here would be a second copy.
if [ -e "$tmp/proto/buf" ]; then
  echo "buf generate generated proto/buf: buf.gen.yaml must generate only proto/risk"; exit 1
fi
if ! diff -r -q "$tmp/proto" proto --exclude='*.proto' --exclude='*.md' --exclude=buf; then
  echo "generated code is stale: run scripts/generate.sh and commit the result"; exit 1
fi

# The API as it is in this tree against the API before this change: on main
# (or a detached HEAD at a commit of main), the previous commit; on another
# branch, the commit it forked from main (the merge base, so what main
# gained since is not counted as the branch's removal). buf clones the
# repository at that commit (".git#ref=<commit>", buf's git input syntax; a
# full commit ID needs no depth option, HEAD~1 would need one deep enough).
# A shallow clone without that commit, or a first commit, skips the check
# and says so.
step "buf breaking"
head=$(git rev-parse -q --verify HEAD 2>/dev/null || true)
branch=$(git symbolic-ref -q --short HEAD 2>/dev/null || true)
main=""
for ref in main origin/main; do
  if git rev-parse -q --verify "$ref^{commit}" >/dev/null 2>&1; then main=$ref; break; fi
done
against="" what="" skip=""
if [ -z "$head" ]; then
  skip="not a git checkout with a commit: nothing to compare the API with"
elif [ "$branch" = main ] || [ -z "$main" ] || git merge-base --is-ancestor HEAD "$main" 2>/dev/null; then
  [ "$branch" = main ] || [ -n "$main" ] || echo "no main branch in this clone: comparing with the previous commit only"
  if against=$(git rev-parse -q --verify HEAD~1 2>/dev/null); then
    what="the previous commit"
  elif [ "$(git rev-parse --is-shallow-repository)" = true ]; then
    skip="shallow clone: the previous commit is not here (git fetch --deepen=1 to check)"
  else
    skip="the first commit: there is no earlier API to compare with"
  fi
elif against=$(git merge-base HEAD "$main" 2>/dev/null); then
  what="where this branch forked from $main"
elif [ "$(git rev-parse --is-shallow-repository)" = true ]; then
  skip="shallow clone: the fork point with $main is not here (git fetch --unshallow to check)"
else
  skip="this branch shares no history with $main: there is no earlier API to compare with"
fi
if [ -n "$skip" ]; then
  echo "SKIPPED: $skip"
else
  echo "against $what, $(git log -1 --format='%h %s' "$against")"
  # The repository's own directory, also from a worktree (where .git is a file).
  git_dir=$(cd "$(git rev-parse --git-common-dir)" && pwd)
  # The earlier API is first built into one image: buf compares a workspace
  # with a workspace module by module and refuses when their counts differ
  # (proto/ became one module when validate.proto moved from
  # proto/third_party to proto/buf), while an image is the API's files
  # whatever modules held them.
  .bin/buf build "$git_dir#format=git,ref=$against" -o "$tmp/against.binpb"
  .bin/buf breaking --against "$tmp/against.binpb"
fi

step "container build step (the Dockerfile's go build, run here)"
# cmd/riskd/container_test.go runs the Dockerfile's own RUN lines and starts
# what they build as the image would; this same build first fails a broken
# image in seconds, and leaves the test a cached build (a cold one takes
# minutes on two cores, inside the test's package timeout).
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/riskd" ./cmd/riskd
if ldd "$tmp/riskd" >/dev/null 2>&1; then
  echo "riskd is dynamically linked; distroless/static cannot run it"; exit 1
fi

step "go test -race"
# One package at a time: several packages start real servers, fsync under
# load and measure deadlines; on two cores, running them side by side
# measures the neighbours, not the code.
# The binaries tests start as processes (internal/testproc) are built with
# -race too.
go test -race -count=1 -p 1 -timeout 12m -skip "$jaeger_tests" ./...

step "tests with a real Jaeger"
if ! wait "$jaeger_build"; then
  cat "$jaeger_log"; echo "building Jaeger failed (scripts/tools.sh jaeger)"; exit 1
fi
cat "$jaeger_log"
go test -race -count=1 -run "$jaeger_tests" ./cmd/riskd ./internal/docs

step "benchmarks (one iteration each)"
# Every benchmark runs once, so none rots unnoticed; the figures mean
# nothing here (scripts/bench.sh and the README's microbenchmarks are the
# measurements). The list lookup benchmarks fill 20,000 entries here, not
# their million (filling a million costs a minute per store, for figures
# this step throws away); the README gives the measuring run.
RISKD_BENCH_LIST_ENTRIES=20000 go test -run='^$' -bench=. -benchtime=1x ./...

step "fuzz (short)"
# Every fuzz target for 50,000 executions: a smoke run that the seeds and
# the targets still hold, not a search (scripts/fuzz.sh says more).
scripts/fuzz.sh "${FUZZTIME:-50000x}"
