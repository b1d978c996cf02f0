#!/usr/bin/env bash
# Installs the project's pinned tools into .bin/ with `go install`, so a new
# machine needs nothing but Go. Versions live here and nowhere else, but for
# the tools built from a tools module (below), pinned by that module.
# Usage: scripts/tools.sh [tool ...]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.bin"
mkdir -p "$bin"

declare -A tools=(
  [buf]=github.com/bufbuild/buf/cmd/buf@v1.75.0
  [protoc-gen-go]=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
  [protoc-gen-go-grpc]=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
  [grpcurl]=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
  [govulncheck]=golang.org/x/vuln/cmd/govulncheck@v1.9.0
)

# Tools built from a module of their own, tools/<name>/, whose go.mod pins
# the version with a `tool` line (go get -tool <pkg>@<version>) and whose
# go.sum pins everything it pulls in. They are there, not in riskd's go.mod,
# because their dependency graphs would drag riskd's own OpenTelemetry and
# gRPC versions along (Jaeger's is several hundred modules).
declare -A modtools=(
  # The tests' trace backend (cmd/riskd/jaeger_test.go): v1.75.0 in
  # tools/jaeger/go.mod. A cold build compiles for minutes.
  [jaeger]=github.com/jaegertracing/jaeger/cmd/jaeger
)

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=("${!tools[@]}" "${!modtools[@]}")
for name in "${wanted[@]}"; do
  if [ -n "${modtools[$name]:-}" ]; then
    pkg=${modtools[$name]}
    dir="$root/tools/$name"
    stamp="$bin/.$name.version"
    # The stamp is the module's go.mod and go.sum: a version bump changes
    # both, so the tool is rebuilt exactly when its pin moved.
    want="$pkg $(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -d' ' -f1)"
    if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
      continue
    fi
    echo "building $pkg from tools/$name" >&2
    # -s -w: no symbol table or DWARF, a smaller binary and a shorter link;
    # nobody debugs it here.
    go build -C "$dir" -ldflags="-s -w" -o "$bin/$name" "$pkg"
    echo "$want" >"$stamp"
    continue
  fi
  pkg=${tools[$name]:?unknown tool $name}
  stamp="$bin/.$name.version"
  # Reinstall only when the pinned version changed.
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg" ]; then
    continue
  fi
  echo "installing $pkg" >&2
  GOBIN="$bin" GOFLAGS=-mod=mod go install "$pkg"
  echo "$pkg" >"$stamp"
done
