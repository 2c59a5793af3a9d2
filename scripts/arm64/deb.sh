#!/usr/bin/env bash
# The arm64 packages: the one arm64 panicd of scripts/arm64/build.sh, packaged by scripts/build-deb.sh once per
# target release, each with Depends taken from that release's own arm64 packages (dpkg-shlibdeps over
# .build/arm64/pkgs-DIST): .build/deb-arm64/bookworm/panicbridge_VERSION_arm64.deb and
# .build/deb-arm64/trixie/panicbridge_VERSION_arm64.deb (same file name, one directory per release).
# One binary serves both (panicd opens libgpiod.so.3 or .so.2 at run time): a release whose libraries cannot load it
# fails the build, naming what is missing; each package built is checked: Architecture arm64,
# no libswift*, glibc symbol versions ≤ 2.36, lintian without errors (build-deb.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD/.build/arm64
bin=$top/build/aarch64-unknown-linux-gnu/release/panicd
version=$(tr -d '[:space:]' < VERSION)
[ -x "$bin" ] || { echo "deb-arm64: no $bin (make arm64-build)" >&2; exit 1; }
started=$(date +%s)
built=() skipped=()
for dist in ${ARM64_DISTS:-bookworm trixie}; do
    sysroot=$top/sysroot-$dist
    missing=$(scripts/arm64/missing-libs.sh "$bin" "$sysroot")
    if [ -n "$missing" ]; then
        echo "== $dist: NOT BUILT: panicd needs $missing, which Debian $dist's packages do not have"
        skipped+=("$dist (needs $missing)")
        continue
    fi
    echo "== $dist: packaging"
    out=.build/deb-arm64/$dist
    trees=$(printf '%s ' "$top/pkgs-$dist"/*)
    DEB_ARCH=arm64 PANICD_BIN=$bin DEB_OUT=$out DEB_SYSROOT=$sysroot DEB_SHLIBS_TREES=$trees \
        LIBC6_SYMBOLS=$top/pkgs-$dist/libc6/DEBIAN/symbols EXEC_WRAPPER="qemu-aarch64-static -L $sysroot" \
        STRIP=aarch64-linux-gnu-strip scripts/build-deb.sh
    deb=$out/panicbridge_${version}_arm64.deb
    [ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || { echo "deb-arm64: $deb is not Architecture: arm64" >&2; exit 1; }
    check=$(mktemp -d)
    dpkg-deb -x "$deb" "$check"
    scripts/arm64/check-binary.sh "$check/usr/bin/panicd"
    echo "$dist: packaged panicd $(stat -c %s "$check/usr/bin/panicd") bytes stripped"
    rm -rf "$check"
    built+=("$deb")
done
echo "== deb-arm64 took $(($(date +%s) - started)) s"
for deb in "${built[@]}"; do
    echo "built $deb: $(stat -c %s "$deb") bytes, $(dpkg-deb -f "$deb" Architecture), depends: $(dpkg-deb -f "$deb" Depends)"
done
for reason in "${skipped[@]}"; do echo "not built: $reason"; done
[ ${#skipped[@]} -eq 0 ] || { echo "deb-arm64: not every release could be packaged" >&2; exit 1; }
[ ${#built[@]} -gt 0 ] || { echo "deb-arm64: no package built" >&2; exit 1; }
