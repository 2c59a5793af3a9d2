#!/usr/bin/env bash
# Regenerates dist/panicd.order, the function order the release panicd is linked with (lld's
# --symbol-ordering-file, Package.swift): every function `panicd run` executes on the sim board, as callgrind saw
# them: first those it runs in SECONDS of idle after `ready`, then those only start-up (exec to `ready`) ran, then
# those only shutdown ran, each part in the order they first run. Linked first and together, they fill ~3 MB of
# text instead of being spread over 30 MB, of which the kernel maps 64 KiB around every page touched: the idle
# daemon's resident text drops from ~17 MB (docs/daemon.md → Start-up and idle code packed together).
#
# Usage: scripts/panicd-order.sh [PANICD] [SECONDS] [CONTROLROOM]   (default .build/release/panicd, 30, none)
# Given CONTROLROOM (the `controlroom` executable), every traced run has the two backends of `make bench-idle` (a
# control room on loopback and an AIS-140 server, `scripts/idle-bench.py --serve-backends`), as every real box has:
# the code that idles them (NIO, AsyncHTTPClient, the AIS-140 session) is then packed in the list too (issue 29).
# Run it after changes to what the daemon does at start or idle; a stale list only costs memory (functions not
# in it are linked after it, as before), never correctness. `make panicd-order` builds first. The compiler's
# private functions (.text..L* sections) have no symbol to list: dist/panicd.ld gathers all of them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
panicd=${1:-.build/release/panicd}
seconds=${2:-30}
controlroom=${3:-}
panicd=$(realpath "$panicd")
SWIFT=${SWIFT:-swift}
SWIFT_RELEASE=${SWIFT_RELEASE:?scripts/panicd-order.sh runs from make panicd-order, which passes SWIFT_RELEASE}
scripts/ensure-packages.sh valgrind
work=$(mktemp -d)
backends_pid=
trap '[ -n "$backends_pid" ] && kill "$backends_pid" 2>/dev/null; rm -rf "$work"' EXIT
# Valgrind's debug-info reader gives up on the release binary's DWARF; the symbol table is all it needs.
objcopy --strip-debug "$panicd" "$work/panicd"
printf 'board: %s/boards/sim.yaml\nkey: device.key\noutbox:\n  path: state/outbox.sqlite\nstatus_socket: status.sock\nlog_level: info\n' \
    "$PWD" >"$work/panicd.yaml"
"$work/panicd" keygen --out "$work/device.key" >/dev/null
config=panicd.yaml
if [ -n "$controlroom" ]; then
    coproc BACKENDS { exec python3 scripts/idle-bench.py --serve-backends "$work" "$panicd" "$controlroom"; }
    backends_pid=$BACKENDS_PID
    read -r answer <&"${BACKENDS[0]}"
    [ "$answer" = ready ] || { echo "panicd-order: the backends did not start" >&2; exit 1; }
    config=panicd-backends.yaml
fi
# Callgrind dumps its counts at `ready` and again after SECONDS of idle: the functions the idle daemon runs go
# first in the list and the ones only start-up ran after them, so the pages given back at `ready`
# (StartupPages.release, docs/daemon.md) hold start-up code and the idle daemon does not fault them back.
(cd "$work" && exec valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    ./panicd run --config "$config" >"$work/run.log" 2>&1) &
grind=$!
timeout 900 tail -n +1 -F --pid="$grind" "$work/run.log" 2>/dev/null | grep -q -m1 " ready" \
    || { echo "panicd-order: panicd did not get ready under valgrind:" >&2; cat "$work/run.log" >&2; exit 1; }
callgrind_control -d "$grind" >/dev/null # callgrind.out.1: exec to ready
sleep "$seconds"
callgrind_control -d "$grind" >/dev/null # callgrind.out.2: SECONDS of idle
kill -INT "$grind"
wait "$grind" || true # callgrind.out: the shutdown
nm --defined-only "$work/panicd" | awk 'NF == 3 && $2 ~ /^[tTwW]$/ { print $3 }' >"$work/functions"
python3 - "$work/callgrind.out" "$work/functions" dist/panicd.order <<'PY'
import re, sys
out, functions, target = sys.argv[1:]
known = set(open(functions).read().split("\n"))
seen, order = set(), []
parts = {"idle": f"{out}.2", "start-up": f"{out}.1", "shutdown": out}
counts = {}
for part, path in parts.items():
    before = len(order)
    for line in open(path, errors="replace"):
        match = re.match(r"^c?fn=\(\d+\) (.*)$", line.rstrip("\n"))
        if match and match.group(1) in known and match.group(1) not in seen:
            seen.add(match.group(1))
            order.append(match.group(1))
    counts[part] = len(order) - before
if counts["idle"] < 1000:
    sys.exit(f"panicd-order: only {counts['idle']} functions seen idle; not writing {target}")
with open(target, "w") as handle:
    handle.write("\n".join(order) + "\n")
print(f"panicd-order: callgrind: {counts['idle']} functions idle, then {counts['start-up']} only at start-up and "
      f"{counts['shutdown']} only at shutdown, written to {target}")
PY

# Callgrind runs the code on its own CPU model: BoringSSL takes its non-ADX paths there, and a few paths depend on
# timing. So, in up to three rounds: link with the list, run the daemon natively under `perf record -e page-faults`,
# and add every function whose first touch faulted in a page the list did not cover, until a round finds none.
scripts/ensure-packages.sh linux-perf
for round in 1 2 3; do
    rm -f "$panicd"
    $SWIFT build $SWIFT_RELEASE --static-swift-stdlib --product panicd >/dev/null
    rm -rf "$work/state" "$work/status.sock"
    (cd "$work" && timeout -s INT 15 perf record -q -e page-faults -c 1 -o "$work/faults.data" "$panicd" run \
        --config "$config" >/dev/null 2>&1) || true
    perf script --no-demangle -i "$work/faults.data" -F ip,sym,dso 2>/dev/null | awk '$NF ~ /panicd\)$/ && $2 != "[unknown]" { print $2 }' \
        | sort -u | grep -vxF -f dist/panicd.order >"$work/new" || true
    added=$(wc -l <"$work/new")
    cat "$work/new" >>dist/panicd.order
    echo "panicd-order: round $round: $added functions faulted outside the list"
    if [ "$added" -eq 0 ]; then break; fi
done
# The toolchain's static libraries are built without a section per function for part of their code: a function
# that runs from one of those big `.text` sections brings the whole section to where it stands in the list. So
# the list puts the functions of sections of their own first, packed, and those of big sections after, grouped
# by section: the packed part is all resident, the big sections only where they run.
python3 - "$(dirname "$(dirname "$(realpath "$(command -v "$SWIFT")")")")/lib/swift_static/linux" dist/panicd.order <<'PY'
import glob, re, subprocess, sys
static, target = sys.argv[1:]
order = [line for line in open(target).read().split("\n") if line]
section_of = {}
for archive in sorted(glob.glob(f"{static}/*.a")):
    sections = subprocess.run(["readelf", "-SW", archive], capture_output=True, text=True, errors="replace").stdout
    symbols = subprocess.run(["readelf", "-sW", archive], capture_output=True, text=True, errors="replace").stdout
    big = {}
    for block in re.split(r"\nFile: ", sections):
        name = block.split("\n", 1)[0]
        for match in re.finditer(r"\[\s*(\d+)\] \.text\s+PROGBITS\s+\S+\s+\S+\s+(\S+)", block):
            if int(match.group(2), 16) >= 16384:
                big[(name, match.group(1))] = f"{name}:.text"
    for block in re.split(r"\nFile: ", symbols):
        name = block.split("\n", 1)[0]
        for line in block.split("\n"):
            fields = line.split()
            if len(fields) == 8 and fields[3] == "FUNC" and (name, fields[6]) in big:
                section_of.setdefault(fields[7], big[(name, fields[6])])
packed = [name for name in order if name not in section_of]
grouped = {}
for name in order:
    if name in section_of:
        grouped.setdefault(section_of[name], []).append(name)
with open(target, "w") as handle:
    handle.write("\n".join(packed + [name for names in grouped.values() for name in names]) + "\n")
print(f"panicd-order: {len(packed)} functions packed first, then {len(order) - len(packed)} in {len(grouped)} big sections")
PY
# Linked with the final list.
rm -f "$panicd"
$SWIFT build $SWIFT_RELEASE --static-swift-stdlib --product panicd >/dev/null
echo "panicd-order: $(wc -l <dist/panicd.order) functions in dist/panicd.order; $panicd linked with it"
