#!/usr/bin/env bash
# Installs the project's pinned tools into .bin/ with `go install`, so a new
# machine needs nothing but Go. Versions live here and nowhere else.
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

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=("${!tools[@]}")
for name in "${wanted[@]}"; do
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
