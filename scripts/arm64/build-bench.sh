#!/usr/bin/env bash
# The arm64 gnss-bench: the same cross build as scripts/arm64/build.sh (release, the Makefile's SWIFT_RELEASE flags,
# static Swift runtime, sid's Swift 6.2 against the bookworm sysroot), for the benchmark product only, in its own
# scratch path (.build/arm64/build-bench) so panicd's build tree is left alone. Run by `make bench-arm64`.
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a release <<< "${SWIFT_RELEASE:?scripts/arm64/build-bench.sh runs from make, which passes SWIFT_RELEASE}"
top=.build/arm64
dist=bookworm
started=$(date +%s)
[ "$top/glibc-compat.o" -nt scripts/arm64/glibc-compat.c ] ||
    scripts/arm64/in-sid.sh /usr/libexec/swift/bin/clang --target=aarch64-linux-gnu --sysroot="/src/$top/sysroot-$dist" \
    -O2 -fPIC -Wall -Werror -c scripts/arm64/glibc-compat.c -o "$top/glibc-compat.o"
flags=("${release[@]}" --static-swift-stdlib --swift-sdks-path /src/$top/sdks --swift-sdk "panicbridge-aarch64-$dist"
    --scratch-path /src/$top/build-bench -Xlinker "/src/$top/glibc-compat.o")
log=$top/build-bench.log
# SwiftPM 6.2.3's hummingbird trait bug (see build.sh): a failed load of the package graph is tried again.
for attempt in $(seq 1 10); do
    if scripts/arm64/in-sid.sh PANICBRIDGE_LIBGPIOD=1 swift build "${flags[@]}" --product gnss-bench 2>&1 | tee "$log"; then
        break
    fi
    if [ "$attempt" -lt 10 ] && grep -q "product 'Configuration' required by package 'hummingbird'" "$log"; then
        echo "== SwiftPM 6.2.3 dropped hummingbird's trait-conditional dependency (issue #769); again ($attempt)"
        continue
    fi
    exit 1
done
echo "== arm64 gnss-bench built in $(($(date +%s) - started)) s"
