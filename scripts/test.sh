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
