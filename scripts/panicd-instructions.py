#!/usr/bin/env python3
"""Instructions per idle second and per drained record for the arm64 and the x86-64 panicd, counted the same way
for both under qemu-user (times under emulation mean nothing; instruction counts do). Run by `make bench-arm64-panicd`.

The count comes from scripts/qemu-insn-count.c, a TCG plugin for Debian's dynamic qemu-user (the static one cannot
load plugins): each translated block adds its length to its thread's counter every time it runs, and the running
total is written to a file every 20 ms, so a daemon can be sampled over a window. It agrees with the block-log count
of scripts/gnss-instructions.py (31,628,011 against 31,628,259 for the arm64 `panicd --version`) at about 1/50 of
its cost, so the emulated daemon keeps up with its own timers and network.
  - idle: `panicd run` on the sim board (1 Hz simulated NMEA), once with no backend and once with the two backends of
    `make bench-idle` (a control room on loopback and an AIS-140 server, `scripts/idle-bench.py --serve-backends`);
    after `ready` and IDLE_SETTLE s, the instructions over a window of IDLE_WINDOW wall seconds, per second. The
    daemon's idle work is paced by its timers and the receiver's 1 Hz, so it is the same per second however slowly
    the emulator runs (as long as it keeps up: the figure of a run that fell behind would be lower).
  - drain: a backlog of N and of 2N records (appended beforehand by the native panicd's hidden `outbox crash-child`,
    signed with the box's key), delivered by `panicd run` to the control room on loopback (PanicBridge protocol,
    the only backend); the daemon is stopped once `panicd outbox status` shows nothing undelivered. Per record:
    (count(2N) - count(N) - idle rate x extra wall seconds) / N, so start-up and shutdown cancel out.

    panicd-instructions.py ARM64-PANICD ARM64-SYSROOT X86-PANICD CONTROLROOM
Environment: DRAIN_RECORDS (N, default 1000; 0: idle only), IDLE_WINDOW (s, default 30), IDLE_SETTLE (s, default 30).
"""
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DRAIN_RECORDS = int(os.environ.get("DRAIN_RECORDS", "1000"))
IDLE_WINDOW = float(os.environ.get("IDLE_WINDOW", "30"))
IDLE_SETTLE = float(os.environ.get("IDLE_SETTLE", "30"))


def load(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), os.path.join(HERE, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


idle_bench = load("idle-bench")


class CountedRun:
    """`command` (a qemu-user command line) run with the counting plugin, whose running total can be sampled."""

    def __init__(self, command, cwd, plugin):
        self.out = os.path.join(cwd, "instructions.count")
        if os.path.exists(self.out):
            os.unlink(self.out)
        full = command[:1] + ["-plugin", f"{plugin},out={self.out},period_ms=20"] + command[1:]
        self.process = subprocess.Popen(full, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # The daemon's log is read from the start for as long as it runs: unread, its lines fill the pipe (64 KiB)
        # and the daemon blocks in write(2) on its next log line, all its threads then waiting on the logging one.
        # A 2,000-record drain logs more than that, and so stopped with a batch in flight and no instruction run.
        self.log = bytearray()
        self.changed = threading.Condition()
        self.ended = False
        threading.Thread(target=self.read_log, daemon=True).start()

    def read_log(self):
        for chunk in iter(lambda: os.read(self.process.stderr.fileno(), 65536), b""):
            with self.changed:
                self.log += chunk
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def executed(self):
        """The count so far (at most 20 ms old)."""
        try:
            with open(self.out) as handle:
                return int(handle.read())
        except FileNotFoundError:
            return 0

    def wait_ready(self, timeout=900):
        with self.changed:
            said = self.changed.wait_for(lambda: self.ended or re.search(rb" ready(\n|$)", self.log), timeout)
            if not said:
                raise SystemExit("panicd-instructions: panicd did not say ready:\n" + self.log.decode(errors="replace"))
            if not re.search(rb" ready(\n|$)", self.log):
                raise SystemExit("panicd-instructions: panicd exited:\n" + self.log.decode(errors="replace"))

    def stop(self):
        """SIGINT, as an operator stops the daemon; returns the whole run's count (written by the plugin at exit)."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=600)
        return self.executed()


def idle_rate(qemu, work, config, plugin):
    """Instructions per wall second of the idle daemon, after `ready` and IDLE_SETTLE s to settle (the start-up
    records delivered, the AIS-140 login done)."""
    run = CountedRun(qemu + ["run", "--config", config], work, plugin)
    try:
        run.wait_ready()
        time.sleep(IDLE_SETTLE)
        first, started = run.executed(), time.monotonic()
        time.sleep(IDLE_WINDOW)
        rate = (run.executed() - first) / (time.monotonic() - started)
    finally:
        run.stop()
    return rate


def drain(qemu, native, controlroom, work, records, plugin):
    """(instructions, wall seconds) of a daemon started on a backlog of `records` until it has delivered them all.
    Each drain is a box of its own: a new device key and a control room that knows only it (the PanicBridge protocol,
    the only backend). A second backlog of the same device from sequence 1 would be a fork of the chain the room
    already holds: the room refuses its alerts, which the box keeps pending for good, and the drain never ends."""
    box = tempfile.mkdtemp(prefix=f"drain-{records}-", dir=work)
    state = os.path.join(box, "state")
    os.makedirs(state)
    subprocess.run([native, "keygen", "--out", os.path.join(box, "device.key")], check=True, stdout=subprocess.DEVNULL)
    room, url, room_key = idle_bench.start_controlroom(controlroom, native, box)
    try:
        with open(os.path.join(box, "panicd-controlroom.yaml"), "w") as handle:
            handle.write(idle_bench.backends_config(ROOT, url, room_key, 0).split("  - name: vlt\n")[0])
        db = os.path.join(state, "outbox.sqlite")
        subprocess.run([native, "outbox", "crash-child", "--db", db, "--key", os.path.join(box, "device.key"),
                        "--count", str(records), "--batch", "100"], check=True, stdout=subprocess.DEVNULL)
        started = time.monotonic()
        run = CountedRun(qemu + ["run", "--config", "panicd-controlroom.yaml"], box, plugin)
        try:
            while True:
                status = subprocess.run([native, "outbox", "status", "--db", db], capture_output=True, text=True).stdout
                match = re.search(r"^backend controlroom .*undelivered (\d+), in flight (\d+)", status, re.M)
                if match and match.group(1) == "0" and match.group(2) == "0":
                    break
                if run.process.poll() is not None:
                    raise SystemExit(
                        "panicd-instructions: panicd exited during the drain:\n" + run.log.decode(errors="replace"))
                time.sleep(0.2)
            elapsed = time.monotonic() - started
        finally:
            executed = run.stop()
    finally:
        room.terminate()
        room.wait(timeout=20)
    return executed, elapsed


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    arm64, sysroot, x86, controlroom = (os.path.abspath(path) for path in sys.argv[1:])
    machines = {
        "arm64": ["qemu-aarch64", "-L", os.path.abspath(sysroot), arm64],
        "x86-64": ["qemu-x86_64", x86],
    }
    rows = {}
    with tempfile.TemporaryDirectory(prefix="panicd-instructions-") as work:
        plugin = os.path.join(work, "qemu-insn-count.so")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", plugin, os.path.join(HERE, "qemu-insn-count.c"),
                        "-lpthread"], check=True)
        subprocess.run([x86, "keygen", "--out", os.path.join(work, "device.key")], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(work, "panicd.yaml"), "w") as handle:
            handle.write(f"board: {ROOT}/boards/sim.yaml\nkey: device.key\noutbox:\n  path: state/outbox.sqlite\n"
                         "status_socket: status.sock\nlog_level: info\n")
        room, url, room_key = idle_bench.start_controlroom(controlroom, x86, work)
        receiver = idle_bench.AIS140Receiver()
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        try:
            both = idle_bench.backends_config(ROOT, url, room_key, receiver.server_address[1])
            with open(os.path.join(work, "panicd-backends.yaml"), "w") as handle:
                handle.write(both)
            for machine, qemu in machines.items():
                for config, label in (("panicd.yaml", "idle, no backend"), ("panicd-backends.yaml", "idle, two backends")):
                    subprocess.run(["rm", "-rf", os.path.join(work, "state"), os.path.join(work, "status.sock")])
                    rate = idle_rate(qemu, work, config, plugin)
                    rows.setdefault(f"{label} (per second)", {})[machine] = rate
                    print(f"  {machine} {label}: {rate:,.0f} instructions/s", flush=True)
                if DRAIN_RECORDS == 0:
                    continue
                single, single_time = drain(qemu, x86, controlroom, work, DRAIN_RECORDS, plugin)
                double, double_time = drain(qemu, x86, controlroom, work, 2 * DRAIN_RECORDS, plugin)
                idle = rows["idle, two backends (per second)"][machine]
                per_record = (double - single - idle * (double_time - single_time)) / DRAIN_RECORDS
                rows.setdefault("drain, PanicBridge (per record)", {})[machine] = per_record
                print(f"  {machine} drain: {DRAIN_RECORDS} records {single:,} in {single_time:.0f} s, "
                      f"{2 * DRAIN_RECORDS} records {double:,} in {double_time:.0f} s", flush=True)
        finally:
            receiver.shutdown()
            room.terminate()
            room.wait(timeout=20)
    print(f"panicd instructions under qemu-user (idle: {IDLE_WINDOW:.0f} s window; drain: 2x minus 1x backlog of "
          f"{DRAIN_RECORDS} records, less the idle rate over the extra wall time)")
    print(f"  {'':36} {'arm64':>12} {'x86-64':>12} {'arm64/x86-64':>13}")
    for label, counts in rows.items():
        ratio = counts["arm64"] / counts["x86-64"]
        print(f"  {label:36} {counts['arm64']:12,.0f} {counts['x86-64']:12,.0f} {ratio:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
