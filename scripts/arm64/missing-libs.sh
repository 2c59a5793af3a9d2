#!/usr/bin/env bash
# Prints the libraries BINARY needs (DT_NEEDED) that SYSROOT does not have, space-separated; nothing if it has all.
# Usage: scripts/arm64/missing-libs.sh BINARY SYSROOT
set -euo pipefail
bin=$1 sysroot=$2
missing=()
for lib in $(readelf -dW "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    found=
    for dir in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu lib usr/lib; do
        [ -e "$sysroot/$dir/$lib" ] && { found=1; break; }
    done
    [ -n "$found" ] || missing+=("$lib")
done
echo "${missing[*]}"
