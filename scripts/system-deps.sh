#!/usr/bin/env bash
# Installs the Debian packages the test suite needs beyond Go: the Python
# example verifier's runtime and the protoc that generates its stubs, and
# the chromium (with a CJK font, for the zh-CN pages) that the review
# console's browser tests drive.
set -euo pipefail
pkgs=(python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc chromium fonts-wqy-microhei)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
