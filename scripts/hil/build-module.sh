#!/usr/bin/env bash
# Builds gpio-sim.ko out of tree for a Debian kernel, from the linux-source package's own
# drivers/gpio/gpio-sim.c and kernel/irq/irq_sim.c (Debian's config leaves CONFIG_GPIO_SIM and the hidden
# CONFIG_IRQ_SIM unset). irq_sim.c is compiled into the same module; its one call of the non-exported
# irq_to_desc() becomes generic_handle_irq(), which does the same through an exported symbol.
# HEADERS is that kernel's linux-headers tree: the installed amd64 one, or the arm64 one unpacked by
# scripts/hil/arm64-kernel.sh, whose Makefile cross-compiles (Debian's ARCH=arm64, aarch64-linux-gnu-gcc-12) with this
# host's own linux-kbuild tools (fixdep, and a modpost that reads either architecture's modules).
# Usage: scripts/hil/build-module.sh HEADERS SOURCE_TARBALL OUTDIR   (writes OUTDIR/gpio-sim.ko)
set -euo pipefail
headers=$1 tarball=$2 out=$3
[ -f "$headers/Module.symvers" ] || { echo "no kernel headers tree at $headers (package linux-headers-KVER)" >&2; exit 1; }
work=$out/src
rm -rf "$work" && mkdir -p "$work"
# Only the two files: scanning the whole xz tarball once is the slow part (~15 s); nothing is unpacked beside them.
tar -xJf "$tarball" -C "$work" --strip-components=1 --wildcards '*/drivers/gpio/gpio-sim.c' '*/kernel/irq/irq_sim.c'
cp "$work/drivers/gpio/gpio-sim.c" "$work/gpio-sim-core.c"
grep -q 'handle_simple_irq(irq_to_desc(irqnum));' "$work/kernel/irq/irq_sim.c" \
    || { echo "irq_sim.c changed: the irq_to_desc call to replace is not there" >&2; exit 1; }
sed 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' \
    "$work/kernel/irq/irq_sim.c" >"$work/irq_sim.c"
cat >"$work/Kbuild" <<'KBUILD'
obj-m := gpio-sim.o
gpio-sim-y := gpio-sim-core.o irq_sim.o
KBUILD
make -s -C "$headers" M="$(cd "$work" && pwd)" modules
cp "$work/gpio-sim.ko" "$out/gpio-sim.ko"
echo "built $out/gpio-sim.ko for $(modinfo -F vermagic "$out/gpio-sim.ko")"
