#!/usr/bin/env bash
# One arm64 panicd: release (the Makefile's SWIFT_RELEASE flags), static Swift runtime, cross-compiled in the
# sid root against the BOOKWORM sysroot (glibc 2.36, libgpiod 1.6), so the one binary needs no newer glibc than
# Debian 12's. Output: .build/arm64/build/aarch64-unknown-linux-gnu/release/panicd, its link map panicd.map.
# Checks that it needs no libswift* and no symbol version above GLIBC_2.36. Run by `make arm64-build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a release <<< "${SWIFT_RELEASE:?scripts/arm64/build.sh runs from make, which passes SWIFT_RELEASE}"
read -r -a extra <<< "${ARM64_SWIFT_FLAGS:-}"
top=.build/arm64
dist=bookworm
started=$(date +%s)
# The sid runtime's references to glibc 2.38 functions, answered inside the binary (glibc-compat.c).
[ "$top/glibc-compat.o" -nt scripts/arm64/glibc-compat.c ] ||
    scripts/arm64/in-sid.sh /usr/libexec/swift/bin/clang --target=aarch64-linux-gnu --sysroot="/src/$top/sysroot-$dist" \
    -O2 -fPIC -Wall -Werror -c scripts/arm64/glibc-compat.c -o "$top/glibc-compat.o"
flags=("${release[@]}" --static-swift-stdlib --swift-sdks-path /src/$top/sdks --swift-sdk "panicbridge-aarch64-$dist"
    --scratch-path /src/$top/build -Xlinker "/src/$top/glibc-compat.o" -Xlinker "-Map=/src/$top/panicd.map"
    "${extra[@]}")
echo "== swift build ${flags[*]} --product panicd  (in the sid root)"
# PANICBRIDGE_LIBGPIOD=1: bookworm's libgpiod 1.6 API (Package.swift's probe would look at the sid root).
# SwiftPM 6.2.3 loses hummingbird's trait-conditional dependency on swift-configuration's product on some
# loads of the package graph (hummingbird issue #769; the hash seed decides): such a load fails at once, before
# anything is compiled, and is tried again, with a new seed, up to 10 times.
log=$top/build.log
for attempt in $(seq 1 10); do
    if scripts/arm64/in-sid.sh PANICBRIDGE_LIBGPIOD=1 swift build "${flags[@]}" --product panicd 2>&1 | tee "$log"; then
        break
    fi
    if [ "$attempt" -lt 10 ] && grep -q "product 'Configuration' required by package 'hummingbird'" "$log"; then
        echo "== SwiftPM 6.2.3 dropped hummingbird's trait-conditional dependency (issue #769); again ($attempt)"
        continue
    fi
    exit 1
done
bin=$top/build/aarch64-unknown-linux-gnu/release/panicd
echo "== arm64 panicd built in $(($(date +%s) - started)) s: $(stat -c %s "$bin") bytes unstripped"
scripts/arm64/check-binary.sh "$bin"
