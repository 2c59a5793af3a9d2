#!/usr/bin/env bash
# Packs the guest's initramfs: static busybox, the modules the rig loads (configfs and the 9p stack from
# Debian's kernel package, decompressed, plus the out-of-tree gpio-sim.ko) and init.sh as /init.
# Everything else the guest runs (test binaries, panicd, libgpiod, the Swift runtime) is read from the host's
# own file system over 9p, so a rebuilt test binary never means a rebuilt initramfs.
# MODULES is the kernel's /lib/modules/KVER (this host's, or the arm64 one unpacked by arm64-kernel.sh) and
# BUSYBOX a static busybox for the guest's architecture.
# Usage: scripts/hil/build-initramfs.sh MODULES BUSYBOX GPIO_SIM_KO INIT_SH OUT.cpio
set -euo pipefail
modules=$1/kernel busybox=$2 gpiosim=$3 init=$4 out=$5
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules}
cp "$busybox" "$root/bin/busybox"
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
