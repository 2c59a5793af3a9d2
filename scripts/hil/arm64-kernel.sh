#!/usr/bin/env bash
# The rig's arm64 guest, from Debian's own arm64 packages of the SAME kernel as the host's amd64 one: the
# linux-image (Image, modules) and linux-headers (config, Module.symvers) of KVER, and bookworm's busybox-static,
# downloaded by scripts/arm64/fetch-debs.sh and unpacked with `dpkg -x` into DIR/root. The headers' scripts/ and
# tools/ links point at this host's linux-kbuild of the same version (what the amd64 headers use): Debian's kbuild
# tools cross-build, their modpost reading either architecture's modules. Reused while the versions are the same.
# Usage: scripts/hil/arm64-kernel.sh DIR KVER VERSION   (KVER e.g. 6.12.118+deb12-arm64; VERSION the packages')
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$1 kver=$2 version=$3
mirror=${MIRROR:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
root=$dir/root
want="$kver $version $(sha256sum "$0" | cut -c1-12)"
if [ "$(cat "$root/.panicbridge-ready" 2>/dev/null)" != "$want" ]; then
    started=$(date +%s)
    # Debian 12's 6.12 kernel is in bookworm-security (and in bookworm after a point release).
    scripts/arm64/fetch-debs.sh "$dir/apt" "$mirror bookworm main" "$security bookworm-security main" -- \
        "linux-image-$kver=$version" "linux-headers-$kver=$version" busybox-static
    rm -rf "$root"
    mkdir -p "$root"
    for deb in "$dir/apt/debs"/*.deb; do dpkg -x "$deb" "$root"; done
    echo "$want" >"$root/.panicbridge-ready"
    echo "arm64 kernel $kver unpacked in $root ($(du -sh "$root" | cut -f1), $(($(date +%s) - started)) s)" >&2
fi
kbuild=/usr/lib/linux-kbuild-${kver%-arm64}
[ -d "$kbuild/scripts" ] || { echo "no $kbuild (package linux-kbuild-${kver%-arm64}: the amd64 headers' tools)" >&2; exit 1; }
headers=$root/usr/src/linux-headers-$kver
ln -sfn "$kbuild/scripts" "$headers/scripts"
ln -sfn "$kbuild/tools" "$headers/tools"
