#!/usr/bin/env bash
# Prepares what the rig's guest boots, cached under .build/hil/ and rebuilt only when an input changes:
# gpio-sim.ko for the installed Debian 6.12 kernel, and the initramfs. Prints "KVER INITRD" on its last line.
# Usage: scripts/hil/prepare.sh CACHE_DIR
set -euo pipefail
cache=$1
here=$(cd "$(dirname "$0")" && pwd)
series=6.12
# The kernel the meta-package pulls in (linux-image-6.12.N+deb12-amd64); headers and source are the same N.
kver=$(dpkg-query -W -f='${Depends}' "linux-image-$series-amd64" | grep -o "linux-image-$series[^ ,]*-amd64" | head -1)
kver=${kver#linux-image-}
[ -f "/boot/vmlinuz-$kver" ] || { echo "no /boot/vmlinuz-$kver" >&2; exit 1; }
tarball=/usr/src/linux-source-$series.tar.xz
mkdir -p "$cache"


source_version=$(dpkg-query -W -f='${Version}' "linux-source-$series")
module_key=$( (echo "$kver $source_version"; cat "$here/build-module.sh") | sha256sum | cut -c1-12)
module=$cache/gpio-sim-$module_key.ko
if [ ! -f "$module" ]; then
    "$here/build-module.sh" "$kver" "$tarball" "$cache/module" >&2
    mv "$cache/module/gpio-sim.ko" "$module"
    rm -rf "$cache/module"
fi

busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
initrd_key=$( (echo "$module_key $busybox_version"; cat "$here/build-initramfs.sh" "$here/init.sh") | sha256sum | cut -c1-12)
initrd=$cache/initramfs-$initrd_key.cpio
if [ ! -f "$initrd" ]; then
    "$here/build-initramfs.sh" "$kver" "$module" "$here/init.sh" "$initrd" >&2
fi
echo "$kver $initrd"
