#!/usr/bin/env bash
# A Debian 13 "trixie" root with libgpiod 2.x, for building and running the libgpiod 2 backend: the host is
# Debian 12, whose libgpiod is 1.6. Made once with debootstrap (minbase) and kept until this script changes.
# Also writes ROOT.pc/libgpiod.pc: pkg-config data that points a host build at the root's gpiod.h and
# libgpiod.so only (not at its whole /usr/include, whose glibc headers are newer than the host's).
# Usage: scripts/hil/trixie-root.sh ROOT
set -euo pipefail
root=$1
# libcurl4t64: the Swift runtime's FoundationNetworking, which the test binary links.
packages=libgpiod-dev,gpiod,libserialport0,libsqlite3-0,libcurl4t64
stamp=$root/.panicbridge-root
# Made again only when what it holds changes.
want="trixie minbase $packages"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$root"
    mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    debootstrap --variant=minbase --include="$packages" trixie "$root" "$mirror"
    # Mount points for the guest (scripts/hil/guest.sh binds the repository and the toolchain here).
    mkdir -p "$root/repo" "$root/opt/swift"
    rm -rf "$root/var/cache/apt/archives"/*.deb
    echo "$want" >"$stamp"
fi
lib=$root/usr/lib/x86_64-linux-gnu
version=$(sed -n 's/^Version: //p' "$lib/pkgconfig/libgpiod.pc")
mkdir -p "$root.pc/include" "$root.pc/lib"
cp "$root/usr/include/gpiod.h" "$root.pc/include/"
ln -sf "$(readlink -f "$lib/libgpiod.so")" "$root.pc/lib/libgpiod.so"
cat >"$root.pc/libgpiod.pc" <<PC
Name: libgpiod
Description: libgpiod $version from the trixie root $root
Version: $version
Cflags: -I$root.pc/include
Libs: -L$root.pc/lib -lgpiod
PC
# Debian 12's libserialport.pc and sqlite3.pc say -L/usr/lib/x86_64-linux-gnu, which would put the host's
# libgpiod.so (1.6) ahead of the one above on the link line: shadow them with the same data minus that flag.
for pc in libserialport sqlite3; do
    sed 's|^Libs: -L${libdir} |Libs: |' "/usr/lib/x86_64-linux-gnu/pkgconfig/$pc.pc" >"$root.pc/$pc.pc"
done
echo "trixie root $root: libgpiod $version"
