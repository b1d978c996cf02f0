#!/bin/sh
# Generates the Python stubs verifier.py imports, into the directory given.
#
#   examples/python-verifier/generate.sh OUTDIR
#
# Needs Debian's protobuf-compiler (protoc) and protobuf-compiler-grpc
# (grpc_python_plugin). Works from any directory. The stubs are not
# committed: they belong to the protoc that made them and the protobuf
# runtime that loads them.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)

protoc=${PROTOC:-protoc}
plugin=${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || true)}
if ! command -v "$protoc" >/dev/null 2>&1; then
	echo "$0: protoc not found; install Debian's protobuf-compiler" >&2
	exit 1
fi
if [ -z "$plugin" ] || [ ! -x "$plugin" ]; then
	echo "$0: grpc_python_plugin not found; install Debian's protobuf-compiler-grpc" >&2
	exit 1
fi

mkdir -p "$out"
# One include path, proto/, resolves every import (validate.proto is vendored
# at proto/buf/validate/validate.proto, its import path). Files are named by
# that import path, as verifier.proto imports them, so that protoc loads each
# once. timestamp.proto comes with protoc (/usr/include) and its Python module
# with the protobuf runtime, so it is not generated here.
"$protoc" \
	-I "$root/proto" \
	--python_out="$out" \
	buf/validate/validate.proto
"$protoc" \
	-I "$root/proto" \
	--python_out="$out" \
	--grpc_out="$out" \
	--plugin=protoc-gen-grpc="$plugin" \
	risk/verifier/v1/verifier.proto

# Regular packages, so that no other "risk" or "buf" on sys.path can shadow
# these (namespace packages would also import, but with the lowest priority).
for d in buf buf/validate risk risk/verifier risk/verifier/v1; do
	: >"$out/$d/__init__.py"
done
