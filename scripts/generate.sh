#!/usr/bin/env bash
# Regenerates the Go code of proto/ with pinned buf and plugins.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/tools.sh buf protoc-gen-go protoc-gen-go-grpc
.bin/buf lint
.bin/buf generate
