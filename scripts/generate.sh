#!/usr/bin/env bash
# Regenerates what is made from the code, with pinned buf and plugins: the
# Go code of proto/, then the generated pages of docs/ (the API reference
# from the .proto comments, the reason codes, the configuration reference;
# internal/docgen), which its tests hold to the code.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/tools.sh buf protoc-gen-go protoc-gen-go-grpc
.bin/buf lint
.bin/buf generate
# The descriptors compiled into the Go code carry no comments; buf's own
# build keeps them (source info) for the API reference.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
.bin/buf build --as-file-descriptor-set --path proto/risk -o "$tmp/api.binpb"
go run ./internal/docgen/cmd/docgen -descriptors "$tmp/api.binpb" -root .
