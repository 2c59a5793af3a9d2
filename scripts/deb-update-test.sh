#!/usr/bin/env bash
# The install test's software update part (docs/updates.md), run by scripts/deb-install-test.sh as root with the
# built packages installed: the built panicbridge package repacked (dpkg-deb -R / -b, no second Swift build) as
# X+1 (good) and X+2 (broken: its panicd never arms), pushed by the real control room (`controlroom update push`),
# received, checked and downloaded by the real panicd, spooled, and installed by the real agent
# (`panicd update install`) with a real dpkg -i. X+1 proves healthy and stays; X+2 is rolled back to X+1 by the
# agent itself; X (older) is refused by panicd; the outbox and the device key survive. systemd is not PID 1 in the
# CI container: the agent's --restart-command starts panicd as user panicd with a NOTIFY_SOCKET of its own and
# waits for READY=1, as `systemctl restart` of the Type=notify unit does.
# Usage: deb-update-test.sh BOX_DEB  (prints "  ok"/"  FAIL" lines; exit 1 when any check failed)
set -euo pipefail
box=$1
arch=$(dpkg --print-architecture)
version=$(dpkg-deb -f "$box" Version)
good="$version+1"
broken="$version+2"
started=$(date +%s)
work=$(mktemp -d /tmp/panicbridge-update-test.XXXXXX)
chmod 0755 "$work"
failures=0
check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then echo "  ok   $what"; else echo "  FAIL $what"; failures=$((failures + 1)); fi
}
room_pid=""
# The daemon started last and the control room are stopped whatever happened, and only then is the work directory
# (which holds the pid file) removed: removing it first left the last panicd running after the test.
cleanup() {
    [ -f "$work/panicd.pid" ] && kill "$(cat "$work/panicd.pid")" 2>/dev/null || true
    [ -n "$room_pid" ] && kill "$room_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    if [ "$failures" -eq 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# --- The packages: X+1 as built; X+2 whose `panicd run` exits at once (never armed), every other subcommand (the
# agent's own) the real binary.
repack() {
    local new=$1 kind=$2 dir="$work/pkg-$1"
    dpkg-deb -R "$box" "$dir"
    sed -i "s/^Version: .*/Version: $new/" "$dir/DEBIAN/control"
    if [ "$kind" = broken ]; then
        mv "$dir/usr/bin/panicd" "$dir/usr/bin/panicd.real"
        printf '#!/bin/sh\n[ "$1" = run ] && { echo "broken panicd: exits before it arms" >&2; exit 1; }\nexec /usr/bin/panicd.real "$@"\n' \
            > "$dir/usr/bin/panicd"
        chmod 0755 "$dir/usr/bin/panicd"
    fi
    dpkg-deb --root-owner-group -b "$dir" "$work/panicbridge_${new}_${arch}.deb" >/dev/null
}
repack "$good" good
repack "$broken" broken

# --- A control room on loopback (the installed package's binary and key), the box registered with it.
room_key=/var/lib/panicbridge-controlroom/controlroom.key
db="$work/cr.db"
port=$((20000 + RANDOM % 20000))
device=$(panicd identity --key /var/lib/panicd/device.key --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["device"])')
jwk=$(panicd identity --key /var/lib/panicd/device.key --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwk"])')
pin=$(controlroom identity --key "$room_key" | sed -n 's/^x: //p')
controlroom devices add --db "$db" --id "$device" --key "$jwk" >/dev/null
controlroom serve --db "$db" --key "$room_key" --listen "127.0.0.1:$port" --updates "$work/updates" \
    > "$work/controlroom.log" 2>&1 &
room_pid=$!

# --- The box: the sim board, reporting every 2 s to that control room (its answers carry the update documents).
config="$work/panicd.yaml"
cat > "$config" <<YAML
board: /usr/share/panicbridge/boards/sim.yaml
key: /var/lib/panicd/device.key
outbox:
  path: /var/lib/panicd/outbox.sqlite
status_socket: /var/lib/panicd/status.sock
backends:
  - name: room
    url: http://127.0.0.1:$port/v1/records
    controlroom_key: $pin
rates:
  position: 2s
  emergency_position: 2s
  health: 2s
log_level: info
YAML
chmod 0644 "$config"

# The restart command: stop the running panicd, start the installed one as user panicd, wait for READY=1.
cat > "$work/restart-panicd" <<SH
#!/bin/sh
set -e
if [ -f "$work/panicd.pid" ]; then kill "\$(cat "$work/panicd.pid")" 2>/dev/null || true; fi
exec python3 "$work/notify.py" "$work/panicd.pid" "$work/panicd.log" \
    env NOTIFY_SOCKET="$work/notify.sock" setpriv --reuid=panicd --regid=panicd --init-groups \
    /usr/bin/panicd run --config "$config"
SH
chmod 0755 "$work/restart-panicd"
cat > "$work/notify.py" <<'PY'
# systemd's Type=notify start, in small: run the command with NOTIFY_SOCKET, wait for READY=1 (30 s at most),
# exit 0 once it came, 1 when the process ended or the time ran out. A previous instance (pid file) is waited for.
import os, select, socket, subprocess, sys, time
pidfile, logfile, command = sys.argv[1], sys.argv[2], sys.argv[3:]
if os.path.exists(pidfile):
    old = int(open(pidfile).read())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(old, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    os.unlink(pidfile)
path = next(a.split("=", 1)[1] for a in command if a.startswith("NOTIFY_SOCKET="))
if os.path.exists(path):
    os.unlink(path)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind(path)
os.chmod(path, 0o777)
log = open(logfile, "a")
process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
open(pidfile, "w").write(str(process.pid))
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    ready, _, _ = select.select([listener], [], [], 0.5)
    if ready and b"READY=1" in listener.recv(4096):
        sys.exit(0)
    if process.poll() is not None:
        print(f"panicd exited with {process.returncode} before READY=1", file=sys.stderr)
        os.unlink(pidfile)
        sys.exit(1)
print("panicd did not say READY=1 within 30 s", file=sys.stderr)
sys.exit(1)
PY
restart="$work/restart-panicd"

# Waits (bounded) until panicd has spooled an update document.
spool=/var/lib/panicd/update/update.jws
await_spool() {
    local i
    for i in $(seq 1 120); do [ -f "$spool" ] && return 0; sleep 0.5; done
    return 1
}
agent() {
    panicd update install --config "$config" --health-timeout 30 --restart-command "$restart" >> "$work/agent.log" 2>&1
}
installed() { dpkg-query -W -f='${Version}' panicbridge; }

"$restart"
key_before=$(sha256sum /var/lib/panicd/device.key)

echo "== update to $good (healthy: stays)"
controlroom update push --db "$db" --key "$room_key" --updates "$work/updates" --device "$device" \
    --deb "$work/panicbridge_${good}_${arch}.deb" --floor "$version" >> "$work/push.log"
check "panicd received, checked, downloaded and spooled $good" await_spool
check "the agent installs $good and finds it healthy (exit 0)" agent
check "$good is installed" test "$(installed)" = "$good"
state() { python3 -c 'import json,sys; print(json.load(open("/var/lib/panicbridge-update/state.json")).get(sys.argv[1]))' "$1"; }
check "the floor is raised to $good" test "$(state floor)" = "$good"
check "the agent kept $good as the rollback package" \
    sh -c "[ \"\$(dpkg-deb -f /var/lib/panicbridge-update/current.deb Version)\" = '$good' ]"

echo "== update to $broken (panicd never arms: rolled back)"
controlroom update push --db "$db" --key "$room_key" --updates "$work/updates" --device "$device" \
    --deb "$work/panicbridge_${broken}_${arch}.deb" >> "$work/push.log"
check "panicd spooled $broken" await_spool
check "the agent reports the rollback (exit 1)" sh -c "! panicd update install --config '$config' --health-timeout 30 --restart-command '$restart' >> '$work/agent.log' 2>&1"
check "$good is installed again" test "$(installed)" = "$good"
check "the state says rolled back" sh -c "python3 -c 'import json; print(json.load(open(\"/var/lib/panicbridge-update/state.json\"))[\"lastOutcome\"])' | grep -qF 'rolled back $broken to $good'"
remembered() { state rolledBack | grep -qF "$broken"; }
check "$broken is remembered as rolled back (never installed again)" remembered
check "the agent logged why" grep -q "update unhealthy: rolling back" "$work/agent.log"
check "the restored panicd runs and is armed" sh -c "panicd status --socket /var/lib/panicd/status.sock | grep -q armed"

echo "== an older package is refused ($version < $good installed)"
controlroom update push --db "$db" --key "$room_key" --updates "$work/updates" --device "$device" \
    --deb "$box" >> "$work/push.log" || true
refused() { grep 'update refused' "$work/panicd.log" | grep -qF "$version\" is not newer than the installed $good"; }
await_refusal() { local i; for i in $(seq 1 60); do refused && return 0; sleep 0.5; done; return 1; }
check "panicd refuses it, naming why (not newer than $good)" await_refusal
check "nothing is spooled" test ! -e "$spool"
check "$good is still installed" test "$(installed)" = "$good"

echo "== state survived both ways"
check "the device key is unchanged" test "$(sha256sum /var/lib/panicd/device.key)" = "$key_before"
check "the outbox is there, panicd's" sh -c '[ "$(stat -c %U /var/lib/panicd/outbox.sqlite)" = panicd ]'
echo "       the update part took $(($(date +%s) - started)) s"
if [ "$failures" -ne 0 ]; then
    echo "--- agent log"; cat "$work/agent.log" || true
    echo "--- panicd log (tail)"; tail -40 "$work/panicd.log" || true
    echo "--- control room log (tail)"; tail -20 "$work/controlroom.log" || true
    exit 1
fi
