#!/usr/bin/env bash
# An arm64 sysroot for one Debian release, from the archive's own arm64 packages: downloaded with apt (a private
# state directory, so the host's apt is untouched: scripts/arm64/fetch-debs.sh), unpacked with `dpkg -x` into
# .build/arm64/sysroot-DIST.
# The runtime libraries' packages are also unpacked whole (dpkg-deb -R, with DEBIAN/symbols) under
# .build/arm64/pkgs-DIST, so dpkg-shlibdeps can take the package's Depends from the TARGET's packages.
# Reused when done (stamp file). Usage: scripts/arm64/sysroot.sh bookworm|trixie|sid-runtime
#   sid-runtime: swiftlang:arm64's Swift runtime (libswiftCore.a …, usr/libexec/swift/lib/{swift,swift_static,clang}),
#   copied into each sysroot by sdk.sh; it must match the sid compiler's version.
set -euo pipefail
cd "$(dirname "$0")/../.."
mirror=${MIRROR:-http://deb.debian.org/debian}
dist=${1:?usage: scripts/arm64/sysroot.sh bookworm|trixie|sid-runtime}
top=$PWD/.build/arm64
case "$dist" in
    # The C libraries panicd links (libgpiod, libserialport, SQLite), glibc, and GCC's start files and libstdc++
    # that the Swift runtime links against, in their -dev and runtime packages.
    bookworm) suite=bookworm gcc=12 gpiod=libgpiod2 ;;
    trixie) suite=trixie gcc=14 gpiod=libgpiod3 ;;
    sid-runtime) suite=sid ;;
    *) echo "sysroot: unknown distribution '$dist' (bookworm, trixie or sid-runtime)" >&2; exit 2 ;;
esac
if [ "$dist" = sid-runtime ]; then
    # The runtime must be the compiler's own version: pinned to the sid root's swiftlang when that exists.
    runtime=() dev=(swiftlang)
    if [ -f "$top/sid/.panicbridge-ready" ]; then
        dev=("swiftlang=$(chroot "$top/sid" dpkg-query -W -f='${Version}' swiftlang)")
    fi
else
    runtime=(libc6 libgcc-s1 libstdc++6 "$gpiod" libserialport0 libsqlite3-0 libcrypt1 zlib1g)
    dev=(libc6-dev linux-libc-dev libcrypt-dev "libgcc-$gcc-dev" "libstdc++-$gcc-dev" libgpiod-dev
        libserialport-dev libsqlite3-dev zlib1g-dev libatomic1)
fi
out=$top/sysroot-$dist
stamp=$out/.panicbridge-ready
[ -f "$stamp" ] && { echo "sysroot $dist: ready in $out"; exit 0; }
started=$(date +%s)
state=$top/apt-$dist
# Downloaded with apt and a private state directory; the .debs are kept (and reused) until the list changes.
scripts/arm64/fetch-debs.sh "$state" "$mirror $suite main" -- "${runtime[@]}" "${dev[@]}"
rm -rf "$out" "$top/pkgs-$dist"
mkdir -p "$out" "$top/pkgs-$dist"
if [ "$dist" = sid-runtime ]; then
    deb=$(ls "$state/debs"/swiftlang_*.deb)
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out" --wildcards \
        './usr/libexec/swift/lib/swift/*' './usr/libexec/swift/lib/swift_static/*' './usr/libexec/swift/lib/clang/*'
    dpkg-deb -f "$deb" Version > "$out/swiftlang-version"
else
    for deb in "$state/debs"/*.deb; do dpkg -x "$deb" "$out"; done
    # A merged-/usr release (trixie) has /lib → usr/lib from base-files, which is not unpacked here: the loader
    # is found as /lib/ld-linux-aarch64.so.1.
    for dir in lib bin sbin; do
        [ -e "$out/$dir" ] || [ ! -d "$out/usr/$dir" ] || ln -s "usr/$dir" "$out/$dir"
    done
    for package in "${runtime[@]}"; do
        deb=$(ls "$state/debs/${package}_"*.deb)
        dpkg-deb -R "$deb" "$top/pkgs-$dist/$package"
    done
    # Absolute symlinks (libc6-dev's libm.so → /lib/…, bookworm's usrmerge-less layout) would point into the
    # host: make every one relative to the sysroot.
    find "$out" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
        target=$(readlink "$link")
        ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$out$target")" "$link"
    done
    for deb in "$state/debs"/*.deb; do
        echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
    done > "$out/packages.txt"
fi
touch "$stamp"
echo "sysroot $dist: ready in $out ($(du -sh "$out" | cut -f1), $(($(date +%s) - started)) s)"
