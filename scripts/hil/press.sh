#!/bin/sh
# The arm64 guest's `panicd run` check (busybox sh; scripts/hil/guest.sh runs it once per arm64 sysroot): what
# Tests/PanicLinuxTests/HILDaemonTests.swift checks in the x86-64 guests, whose test bundles are not cross-built.
#   `panicd boards check` of boards/gpio-sim.yaml opens the expected libgpiod (API); `panicd run` on that board with
#   GNSS on /dev/ttyS1 (run.py streams NavIC epochs) logs that libgpiod, "ready", a position record (it has a fix);
#   then the driver's button on the panic-sim bank is pulled up: the alert must be stored; SIGTERM stops panicd
#   cleanly; `panicd outbox export` holds an emergency record with the UART's fix (26.9124 N, 75.7873 E) and
#   `panicd verify` accepts the chain.
# Every failure prints "hil-arm64 FAIL (LABEL): why" and the end of panicd's log. Event-driven: panicd's log is read
# line by line from a FIFO, and each step waits for its line; one watchdog bounds the whole run.
# Usage: press.sh PANICD REPO API LABEL   (API: 1.6 or 2.x; LABEL names the sysroot in messages)
set -u
panicd=$1 repo=$2 api=$3 label=$4
# BTN_DRIVER's offset on the panic-sim bank (guest.sh, boards/gpio-sim.yaml).
line=0
# What a step may take under TCG emulation before the check gives up (seconds).
limit=120
dir=/tmp/press-$label
started=$(cut -d' ' -f1 /proc/uptime)

fail() {
    echo "hil-arm64 FAIL ($label): $*"
    if [ -s "$dir/log" ]; then
        echo "hil-arm64: the end of panicd's log:"
        tail -n 30 "$dir/log" | sed 's/^/  | /'
    fi
    exit 1
}
ok() { echo "hil-arm64 ok ($label): $*"; }
elapsed() { awk -v a="$started" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f s", b - a }'; }

rm -rf "$dir"
mkdir -p "$dir"
chip=$(cat /sys/kernel/config/gpio-sim/panic/bank0/chip_name) || fail "no panic-sim bank"
pull=/sys/bus/gpio/devices/$chip/sim_gpio$line/pull
[ -e "$pull" ] || fail "no $pull"

out=$("$panicd" boards check "$repo/boards/gpio-sim.yaml" 2>&1) || fail "panicd boards check failed: $out"
case $out in
    *"libgpiod: libgpiod $api"*) ok "boards check: $(echo "$out" | tr '\n' ' ')" ;;
    *) fail "panicd boards check did not open libgpiod $api: $out" ;;
esac
"$panicd" keygen --out "$dir/device.key" >/dev/null || fail "panicd keygen failed"
cat >"$dir/panicd.yaml" <<EOF
board: $repo/boards/gpio-sim.yaml
key: $dir/device.key
outbox:
  path: $dir/outbox.sqlite
backends:
  # Nothing listens (the guest has no network): the alert stays "stored".
  - name: unreachable
    url: http://127.0.0.1:9/v1/records
    controlroom_key: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
rates:
  position: 2s
  emergency_position: 1s
log_level: debug
EOF
out=$("$panicd" config check --config "$dir/panicd.yaml" 2>&1) || fail "panicd config check failed: $out"

# The receiver (run.py) streams a fresh NavIC epoch every second from now on. CLOCAL first: without it the open
# below waits for a carrier that nothing asserts.
stty -F /dev/ttyS1 clocal || fail "stty /dev/ttyS1"
printf '\r\nHIL:stream live 1000\r\n' >/dev/ttyS1 || fail "cannot write to /dev/ttyS1"

mkfifo "$dir/fifo"
"$panicd" run --config "$dir/panicd.yaml" >"$dir/fifo" 2>&1 &
pid=$!
# The one timer: panicd is killed if the steps below have not ended it by then (the loop then sees EOF).
(
    sleep "$limit"
    echo "hil-arm64: $limit s passed; killing panicd" >>"$dir/log"
    kill -9 "$pid" 2>/dev/null
) &
watchdog=$!
step="the libgpiod panicd opened (libgpiod $api)"
while IFS= read -r entry; do
    echo "$entry" >>"$dir/log"
    case "$step:$entry" in
        "the libgpiod"*:*"GPIO through libgpiod $api"*) step="panicd ready" ;;
        "the libgpiod"*:*"GPIO through libgpiod"*) step="libgpiod $api (it opened another)" ;;
        "panicd ready:"*ready*) step="a position record (a fix from the UART)" ;;
        "a position record"*:*"record stored: position"*)
            ok "panicd run: libgpiod $api, ready, a position record after $(elapsed); pressing line $line"
            echo pull-up >"$pull"
            step="the emergency alert stored after the press"
            ;;
        "the emergency alert"*:*"alert stored: emergency"*)
            ok "alert stored $(elapsed) after the start"
            echo pull-down >"$pull"
            kill -TERM "$pid"
            step=done
            ;;
    esac
done <"$dir/fifo"
wait "$pid"
status=$?
kill "$watchdog" 2>/dev/null
printf '\r\nHIL:stop\r\n' >/dev/ttyS1
echo pull-down >"$pull"
[ "$step" = done ] || fail "panicd's log never showed $step (exit $status after $(elapsed))"
[ "$status" -eq 0 ] || fail "panicd did not stop cleanly on SIGTERM (exit $status)"

# Committed, signed and located: read back from the outbox.
"$panicd" outbox export --db "$dir/outbox.sqlite" --key "$dir/device.key" >"$dir/export" ||
    fail "panicd outbox export failed"
out=$("$panicd" verify --key "$dir/device.key" - <"$dir/export" 2>&1) || fail "panicd verify rejected the outbox: $out"
records=$(wc -l <"$dir/export")
found=
while IFS= read -r envelope; do
    payload=$(echo "$envelope" | cut -d. -f2 | tr '_-' '/+')
    case $((${#payload} % 4)) in
        2) payload="$payload==" ;;
        3) payload="$payload=" ;;
    esac
    json=$(echo "$payload" | base64 -d 2>/dev/null)
    case $json in *'"emergency"'*) ;; *) continue ;; esac
    lat=$(echo "$json" | sed -n 's/.*"lat":\([-0-9.eE]*\).*/\1/p')
    lon=$(echo "$json" | sed -n 's/.*"lon":\([-0-9.eE]*\).*/\1/p')
    if [ -n "$lat" ] && [ -n "$lon" ] &&
        awk -v a="$lat" -v o="$lon" 'BEGIN { d = a - 26.9124; e = o - 75.7873; exit !(d * d < 1e-6 && e * e < 1e-6) }'; then
        found="$lat, $lon"
        break
    fi
done <"$dir/export"
[ -n "$found" ] || fail "no emergency record with the UART's fix (26.9124, 75.7873) among the outbox's $records records"
ok "the outbox holds $records records, verified; the emergency record's fix: $found"
echo "hil-arm64 PASS ($label): press stored as a located alert, $(elapsed) in all"
