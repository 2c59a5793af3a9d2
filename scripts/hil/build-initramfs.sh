#!/usr/bin/env bash
# Packs the guest's initramfs: static busybox, the modules the rig loads (configfs and the 9p stack from
# Debian's kernel package, decompressed, plus the out-of-tree gpio-sim.ko) and init.sh as /init.
# Everything else the guest runs (test binaries, panicd, libgpiod, the Swift runtime) is read from the host's
# own file system over 9p, so a rebuilt test binary never means a rebuilt initramfs.
# Usage: scripts/hil/build-initramfs.sh KVER GPIO_SIM_KO INIT_SH OUT.cpio
set -euo pipefail
kver=$1 gpiosim=$2 init=$3 out=$4
modules=/lib/modules/$kver/kernel
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# Load order matters: each module after the ones it needs (modules.dep).
for module in fs/configfs/configfs fs/netfs/netfs net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p; do
    xz -dc "$modules/$module.ko.xz" >"$root/lib/modules/$(basename "$module").ko"
done
cp "$gpiosim" "$root/lib/modules/gpio-sim.ko"
install -m 0755 "$init" "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
echo "packed $out ($(du -h "$out" | cut -f1))"
