#!/bin/sh
# Runs inside the rig's guest (chrooted into the host's root over 9p; see init.sh): makes the gpio-sim banks
# the tests and boards/gpio-sim.yaml use, then runs the hardware suites on them.
# Usage: guest.sh REPO SUITE   (SUITE: gpiod1 — the build in .build/debug on this root's libgpiod 1.6; gpiod2 —
# the same build run inside the trixie root, on its libgpiod 2.x)
set -eu
repo=$1 suite=$2
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
gpiodetect

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
    *)
        echo "unknown suite $suite" >&2
        exit 2
        ;;
esac
