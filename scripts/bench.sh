#!/usr/bin/env bash
# Benchmarks riskd against an empty gRPC handler on this machine, in one run.
# Usage: scripts/bench.sh [riskbench flags]   e.g. --duration 10s --json out.json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .bin
go build -trimpath -o .bin/riskd ./cmd/riskd
go build -trimpath -o .bin/riskbench ./cmd/riskbench
exec .bin/riskbench --riskd .bin/riskd "$@"
