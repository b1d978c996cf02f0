#!/usr/bin/env bash
# Refreshes the embedded list of disposable e-mail domains from the npm
# package disposable-email-domains (MIT), at VERSION or the latest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-latest}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack "disposable-email-domains@$version" >/dev/null 2>&1
tar xzf disposable-email-domains-*.tgz
out="$root/internal/verifier/contact/data/disposable_domains.txt"
python3 -c 'import json,sys; d=sorted({x.strip().lower() for x in json.load(open("package/index.json")) if x.strip()}); sys.stdout.write("\n".join(d)+"\n")' >"$out"
echo "wrote $(wc -l <"$out") domains from $(ls disposable-email-domains-*.tgz); update the version in data/README.md"
