#!/usr/bin/env bash
# A Debian 13 "trixie" root with libgpiod 2.x (libgpiod.so.3), for running the libgpiod 2 side of the backend:
# the host is Debian 12, whose libgpiod is 1.6. The rig's gpiod2 suite runs the host's own .build/debug
# binaries chrooted in it (scripts/hil/guest.sh): one build, the API picked when panicd opens libgpiod.
# Made once with debootstrap (minbase) and kept until this script changes.
# Usage: scripts/hil/trixie-root.sh ROOT
set -euo pipefail
root=$1
# gpiod: the command-line tools and libgpiod3. libcurl4t64: the Swift runtime's FoundationNetworking, which the
# test binary links.
packages=gpiod,libgpiod3,libserialport0,libsqlite3-0,libcurl4t64
stamp=$root/.panicbridge-root
# Made again only when what it holds changes.
want="trixie minbase $packages"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$root" "$root.pc"
    mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    debootstrap --variant=minbase --include="$packages" trixie "$root" "$mirror"
    # Mount points for the guest (scripts/hil/guest.sh binds the repository and the toolchain here).
    mkdir -p "$root/repo" "$root/opt/swift"
    rm -rf "$root/var/cache/apt/archives"/*.deb
    echo "$want" >"$stamp"
fi
# Only libgpiod 2 in there: panicd must find libgpiod.so.3 and no libgpiod.so.2 to fall back on.
lib=$root/usr/lib/x86_64-linux-gnu
if ls "$lib"/libgpiod.so.2* >/dev/null 2>&1; then
    echo "trixie root $root has libgpiod.so.2 as well" >&2
    exit 1
fi
echo "trixie root $root: $(basename "$(readlink -f "$lib/libgpiod.so.3")")"
