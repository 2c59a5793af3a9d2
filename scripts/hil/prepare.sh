#!/usr/bin/env bash
# Prepares what the rig's guest boots, cached under .build/hil/ and rebuilt only when an input changes:
# gpio-sim.ko for Debian's 6.12 kernel, and the initramfs. Prints "KERNEL INITRD" on its last line.
#   amd64: the installed kernel (/boot/vmlinuz-KVER), its modules, headers and this host's busybox.
#   arm64: Debian's arm64 build of the same kernel version, its headers and bookworm's arm64 busybox-static,
#          unpacked under CACHE_DIR/arm64 by scripts/hil/arm64-kernel.sh; gpio-sim.ko cross-built for it.
# Usage: scripts/hil/prepare.sh CACHE_DIR [amd64|arm64]
set -euo pipefail
cache=$1 arch=${2:-amd64}
here=$(cd "$(dirname "$0")" && pwd)
series=6.12
# The kernel the meta-package pulls in (linux-image-6.12.N+deb12-amd64); headers and source are the same N.
kver=$(dpkg-query -W -f='${Depends}' "linux-image-$series-amd64" | grep -o "linux-image-$series[^ ,]*-amd64" | head -1)
kver=${kver#linux-image-}
version=$(dpkg-query -W -f='${Version}' "linux-image-$kver")
case $arch in
    amd64)
        root=
        busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
        ;;
    arm64)
        kver=${kver%-amd64}-arm64
        root=$cache/arm64/root
        "$here/arm64-kernel.sh" "$cache/arm64" "$kver" "$version" >&2
        busybox_version=$(dpkg-deb -f "$(ls "$cache"/arm64/apt/debs/busybox-static_*.deb)" Version)
        ;;
    *) echo "prepare: unknown architecture '$arch' (amd64 or arm64)" >&2; exit 2 ;;
esac
kernel=$root/boot/vmlinuz-$kver
[ -f "$kernel" ] || { echo "no $kernel" >&2; exit 1; }
tarball=/usr/src/linux-source-$series.tar.xz
mkdir -p "$cache"

source_version=$(dpkg-query -W -f='${Version}' "linux-source-$series")
module_key=$( (echo "$kver $version $source_version"; cat "$here/build-module.sh") | sha256sum | cut -c1-12)
module=$cache/gpio-sim-$module_key.ko
if [ ! -f "$module" ]; then
    started=$(date +%s)
    "$here/build-module.sh" "$root/usr/src/linux-headers-$kver" "$tarball" "$cache/module-$arch" >&2
    mv "$cache/module-$arch/gpio-sim.ko" "$module"
    rm -rf "$cache/module-$arch"
    echo "gpio-sim.ko for $kver built in $(($(date +%s) - started)) s" >&2
fi

initrd_key=$( (echo "$module_key $busybox_version"; cat "$here/build-initramfs.sh" "$here/init.sh") | sha256sum | cut -c1-12)
initrd=$cache/initramfs-$initrd_key.cpio
if [ ! -f "$initrd" ]; then
    "$here/build-initramfs.sh" "$root/lib/modules/$kver" "$root/bin/busybox" "$module" "$here/init.sh" "$initrd" >&2
fi
echo "$kernel $initrd"
