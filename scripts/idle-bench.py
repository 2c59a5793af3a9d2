#!/usr/bin/env python3
"""The idle bench (`make bench-idle`): `panicd run` on the sim board beside gpsd on a pseudo-terminal, both at 1 Hz
NMEA, measured the same way for SECONDS (default 60): wakeups/s (voluntary + involuntary context switches of every
thread, from /proc/PID/task/*/status) and resident memory (VmRSS, split into anonymous memory and mapped files). Also the time from exec to `ready` (armed).

Usage: scripts/idle-bench.py PANICD [SECONDS]. gpsd reads a captured receiver log (Tests/NMEATests/Fixtures,
one epoch a second) from the pty with -b (read-only) -n (no wait for a client) -N (foreground). panicd runs its
simulated receiver at 1 Hz on the Jaipur route and has no backend (an idle box: nothing to send).
"""
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def switches(pid):
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as handle:
                for line in handle:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def rss_kib(pid, field="VmRSS"):
    """Resident memory from /proc/PID/status: VmRSS (all), RssAnon (private memory) or RssFile (mapped files, which
    the kernel can drop and read again: mostly the executable's own pages)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def epochs(path):
    """The fixture's sentences grouped into epochs (a new epoch at each RMC)."""
    group = []
    with open(path, "rb") as handle:
        for line in handle:
            if not line.startswith(b"$"):
                continue
            if line[3:6] == b"RMC" and group:
                yield b"".join(group)
                group = []
            group.append(line.rstrip(b"\r\n") + b"\r\n")
    if group:
        yield b"".join(group)


def feed(master, fixture, stop):
    """One epoch a second, on the second."""
    next_at = time.monotonic()
    while not stop.is_set():
        for epoch in epochs(fixture):
            if stop.is_set():
                return
            os.write(master, epoch)
            next_at += 1.0
            stop.wait(max(0.0, next_at - time.monotonic()))


def main():
    panicd = os.path.abspath(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    work = tempfile.mkdtemp(prefix="idle-bench-")
    try:
        config = os.path.join(work, "panicd.yaml")
        with open(config, "w") as handle:
            handle.write(
                f"board: {ROOT}/boards/sim.yaml\nkey: device.key\noutbox:\n  path: state/outbox.sqlite\n"
                "status_socket: status.sock\nlog_level: info\n")
        subprocess.run([panicd, "keygen", "--out", os.path.join(work, "device.key")], check=True,
                       stdout=subprocess.DEVNULL)

        # gpsd on a pty fed at 1 Hz.
        master, slave = pty.openpty()
        tty = os.ttyname(slave)
        stop = threading.Event()
        fixture = os.path.join(ROOT, "Tests/NMEATests/Fixtures/quectel-l76k-nmea.log")
        feeder = threading.Thread(target=feed, args=(master, fixture, stop), daemon=True)
        feeder.start()
        gpsd = subprocess.Popen(["gpsd", "-N", "-n", "-b", "-S", "29470", "-F", os.path.join(work, "gpsd.sock"), tty],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        started = time.monotonic()
        daemon = subprocess.Popen([panicd, "run", "--config", config], cwd=work, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        log = b""
        while not re.search(rb" ready(\n|$)", log):
            ready, _, _ = select.select([daemon.stderr], [], [], 30)
            if not ready:
                raise SystemExit("panicd did not say ready within 30 s:\n" + log.decode(errors="replace"))
            chunk = os.read(daemon.stderr.fileno(), 65536)
            if not chunk:
                raise SystemExit("panicd exited:\n" + log.decode(errors="replace"))
            log += chunk
        armed = time.monotonic() - started
        # Drain its log in the background so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in iter(lambda: os.read(daemon.stderr.fileno(), 65536), b"")],
                         daemon=True).start()

        # Let both settle, then measure the same window.
        time.sleep(5)
        before = {name: switches(proc.pid) for name, proc in (("panicd", daemon), ("gpsd", gpsd))}
        time.sleep(seconds)
        after = {name: switches(proc.pid) for name, proc in (("panicd", daemon), ("gpsd", gpsd))}
        print(f"idle bench: {seconds:.0f} s, 1 Hz NMEA each (gpsd on {tty} from quectel-l76k-nmea.log, panicd's sim receiver)")
        for name, proc in (("panicd", daemon), ("gpsd", gpsd)):
            rate = (after[name] - before[name]) / seconds
            print(f"  {name:7s} wakeups/s {rate:6.2f}   RSS {rss_kib(proc.pid) / 1024:6.1f} MB "
                  f"(anonymous {rss_kib(proc.pid, 'RssAnon') / 1024:5.1f} MB, files {rss_kib(proc.pid, 'RssFile') / 1024:5.1f} MB)   "
                  f"threads {len(os.listdir(f'/proc/{proc.pid}/task'))}")
        print(f"  panicd exec → ready (armed): {armed * 1000:.0f} ms")
        daemon.terminate()
        daemon.wait(timeout=20)
        gpsd.terminate()
        gpsd.wait(timeout=10)
        stop.set()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
