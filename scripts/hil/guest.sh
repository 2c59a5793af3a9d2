#!/bin/sh
# Runs inside the rig's guest (see init.sh): makes the gpio-sim banks the tests and boards/gpio-sim.yaml use,
# then runs the hardware suites on them.
# Usage: guest.sh REPO SUITE [ARG...]   (SUITE: gpiod1 — the build in .build/debug on this root's libgpiod 1.6;
# gpiod2 — the same build run inside the trixie root, on its libgpiod 2.x; both chrooted into the host's root.
# arm64 PANICD SYSROOT... — the arm64 guest, in its initramfs with the host's root at /host: the arm64 panicd's
# press check, scripts/hil/press.sh, once on each arm64 sysroot's libraries)
set -eu
repo=$1 suite=$2
shift 2
sim=/sys/kernel/config/gpio-sim

# bank NAME LABEL LINE... : a live gpio-sim chip with the named lines at offsets 0, 1, 2, ...
bank() {
    dev=$sim/$1 label=$2
    shift 2
    mkdir "$dev" "$dev/bank0"
    echo "$label" >"$dev/bank0/label"
    echo $# >"$dev/bank0/num_lines"
    offset=0
    for name in "$@"; do
        mkdir "$dev/bank0/line$offset"
        echo "$name" >"$dev/bank0/line$offset/name"
        offset=$((offset + 1))
    done
    echo 1 >"$dev/live"
}
# The board's lines (boards/gpio-sim.yaml) at 0-7, the test suites' own at 8-15: suites never share a line.
bank panic panic-sim BTN_DRIVER BTN_SEATS BTN_HELP ENCLOSURE POWER_SENSE IGNITION LED_STATUS BUZZER \
    T_EDGES T_ACTIVE_HIGH T_BIAS T_BUSY T_LOOP T_BUTTON T_LED T_BUZZER
# A second chip, so finding a line by name on "any chip" has to look past the first one.
bank aux panic-sim-aux T_AUX0 T_AUX_NAMED
# The gpiod tools are the host's (x86-64): not in the arm64 guest.
if command -v gpiodetect >/dev/null; then gpiodetect; fi

export PANICBRIDGE_HIL_REPO="$repo"
filter='HIL|GPIOD'
case $suite in
    gpiod1)
        # Which API the binaries must find (HIL.GPIOD checks): one build serves both suites.
        export PANICD="$repo/.build/debug/panicd" PANICBRIDGE_HIL_LIBGPIOD=1
        "$repo/.build/debug/PanicBridgePackageTests.xctest" --testing-library swift-testing --filter "$filter"
        ;;
    gpiod2)
        root=$repo/.build/hil/trixie
        for fs in proc sys dev tmp; do mount --rbind /$fs "$root/$fs"; done
        mount --rbind "$repo" "$root/repo"
        mount --rbind /opt/swift "$root/opt/swift"
        export PANICD=/repo/.build/debug/panicd PANICBRIDGE_HIL_REPO=/repo PANICBRIDGE_HIL_LIBGPIOD=2
        chroot "$root" /repo/.build/debug/PanicBridgePackageTests.xctest \
            --testing-library swift-testing --filter "$filter"
        ;;
    arm64)
        # Paths are the host's: its root is at /host here. The arm64 panicd runs on each sysroot in turn, with that
        # sysroot's loader at the path the binary names and its library directories first (dlopen of libgpiod too).
        host=/host
        panicd=$host$1
        shift
        failed=
        for sysroot in "$@"; do
            root=$host$sysroot
            ln -sfn "$root/lib/ld-linux-aarch64.so.1" /lib/ld-linux-aarch64.so.1
            api=1.6
            if [ -e "$root/usr/lib/aarch64-linux-gnu/libgpiod.so.3" ]; then api=2.x; fi
            LD_LIBRARY_PATH=$root/lib/aarch64-linux-gnu:$root/usr/lib/aarch64-linux-gnu \
                /bin/sh "$host$repo/scripts/hil/press.sh" "$panicd" "$host$repo" "$api" "${sysroot##*/}" ||
                failed="$failed ${sysroot##*/}"
        done
        if [ -n "$failed" ]; then
            echo "hil-arm64: FAILED on$failed"
            exit 1
        fi
        ;;
    *)
        echo "unknown suite $suite" >&2
        exit 2
        ;;
esac
