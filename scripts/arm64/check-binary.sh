#!/usr/bin/env bash
# Checks an arm64 panicd for Debian 12: no Swift runtime library needed (readelf -d), and no glibc symbol
# version newer than bookworm's 2.36 (objdump -T). Prints what it found; exits non-zero when either fails.
set -euo pipefail
bin=${1:?usage: scripts/arm64/check-binary.sh BINARY}
max_glibc=${MAX_GLIBC:-2.36}
objdump=aarch64-linux-gnu-objdump
command -v "$objdump" >/dev/null || objdump=objdump
needed=$(readelf -dW "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "NEEDED: $needed"
if [[ " $needed" == *" libswift"* ]]; then
    echo "check-binary: $bin needs Swift runtime libraries: $needed" >&2
    exit 1
fi
versions=$("$objdump" -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V)
highest=$(echo "$versions" | tail -n 1)
echo "highest glibc symbol version: $highest (of: $(echo "$versions" | tr '\n' ' '))"
if [ "$(printf '%s\n%s\n' "${highest#GLIBC_}" "$max_glibc" | sort -V | tail -n 1)" != "$max_glibc" ]; then
    echo "check-binary: $bin needs $highest, above Debian 12's GLIBC_$max_glibc:" >&2
    "$objdump" -T "$bin" | grep "$highest" >&2
    exit 1
fi
