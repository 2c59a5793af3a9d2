#!/usr/bin/env python3
"""The idle bench (`make bench-idle`): `panicd run` on the sim board beside gpsd on a pseudo-terminal, both at 1 Hz
NMEA, measured the same way for SECONDS (default 60): wakeups/s (voluntary + involuntary context switches of every
thread, from /proc/PID/task/*/status) and resident memory (VmRSS at the window's end, split into anonymous memory and
mapped files, and its peak over the window, read every second). Also the time from exec to `ready` (armed).

Usage: scripts/idle-bench.py PANICD [SECONDS] [CONTROLROOM]. gpsd reads a captured receiver log
(Tests/NMEATests/Fixtures, one epoch a second) from the pty with -b (read-only) -n (no wait for a client) -N
(foreground). panicd runs its simulated receiver at 1 Hz on the Jaipur route, first with no backend (nothing to
send); then, given CONTROLROOM (the `controlroom` executable), with two backends as a real box has them: a
PanicBridge control room (`controlroom serve` on loopback, the device registered) and an AIS-140 server (a
Traccar-like receiver in this script: `$LGN…*` to a login, `$HBT*` to a heartbeat). With backends the box
delivers what it stores at the default rates (a position and a telemetry sample a minute, health every 5 min) and
sends the AIS-140 heartbeat every 2 min while nothing else goes: due work, counted in the window and printed.
"""
import os
import pty
import re
import select
import shutil
import signal
import socket
import socketserver
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


class AIS140Receiver(socketserver.ThreadingTCPServer):
    """Answers as Traccar's `its` server does (AIS140ReferenceReceiver in Swift): the login with
    `$LGN<ddMMyyyyHHmmss>*`, the heartbeat with `$HBT*`; frames end with CR LF. Counts what it gets."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.counts = {"connections": 0, "logins": 0, "heartbeats": 0, "frames": 0}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), AIS140Handler)

    def count(self, name):
        with self.lock:
            self.counts[name] += 1

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


class AIS140Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.count("connections")
        pending = b""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            pending += chunk
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                if line.startswith(b"$,LGN,"):
                    self.server.count("logins")
                    self.request.sendall(b"$LGN" + time.strftime("%d%m%Y%H%M%S", time.gmtime()).encode() + b"*")
                elif line.startswith(b"$,HBT,"):
                    self.server.count("heartbeats")
                    self.request.sendall(b"$HBT*")
                elif line.startswith(b"$,"):
                    self.server.count("frames")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_controlroom(controlroom, panicd, work):
    """`controlroom serve` on a free loopback port with the bench's device registered; returns (process, url, key)."""
    run = lambda *args: subprocess.run(args, check=True, cwd=work, capture_output=True, text=True).stdout
    run(controlroom, "keygen", "--out", "controlroom.key")
    room_key = re.search(r"^x: (\S+)$", run(controlroom, "identity", "--key", "controlroom.key"), re.M).group(1)
    device = run(panicd, "identity", "--key", "device.key", "--json")
    ids = re.search(r'"device":"([^"]+)"', device).group(1), re.search(r'"publicKey":"([^"]+)"', device).group(1)
    run(controlroom, "devices", "add", "--db", "controlroom.db", "--id", ids[0], "--key", ids[1])
    port = free_port()
    process = subprocess.Popen(
        [controlroom, "serve", "--db", "controlroom.db", "--key", "controlroom.key", "--listen", f"127.0.0.1:{port}"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("controlroom serve did not start")
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}/v1/records", room_key


def measure(panicd, work, config, gpsd, seconds, title, receiver=None):
    """Starts `panicd run --config CONFIG`, waits for `ready`, lets it settle 5 s, then counts panicd's and gpsd's
    wakeups over the same SECONDS and prints them with their memory."""
    started = time.monotonic()
    daemon = subprocess.Popen([panicd, "run", "--config", config], cwd=work, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
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
        received = receiver.snapshot() if receiver else None
        before = {name: switches(proc.pid) for name, proc in (("panicd", daemon), ("gpsd", gpsd))}
        # Resident memory read every second over the window (reading /proc wakes neither process): the figure is
        # the one at its end, beside the window's peak, so memory that comes back later in the window shows.
        peak = {"panicd": 0, "gpsd": 0}
        end = time.monotonic() + seconds
        while True:
            for name, proc in (("panicd", daemon), ("gpsd", gpsd)):
                peak[name] = max(peak[name], rss_kib(proc.pid))
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(1.0, left))
        after = {name: switches(proc.pid) for name, proc in (("panicd", daemon), ("gpsd", gpsd))}
        print(title)
        for name, proc in (("panicd", daemon), ("gpsd", gpsd)):
            rate = (after[name] - before[name]) / seconds
            print(f"  {name:7s} wakeups/s {rate:6.2f}   RSS {rss_kib(proc.pid) / 1024:6.1f} MB "
                  f"(anonymous {rss_kib(proc.pid, 'RssAnon') / 1024:5.1f} MB, files {rss_kib(proc.pid, 'RssFile') / 1024:5.1f} MB; "
                  f"peak {peak[name] / 1024:.1f} MB)   threads {len(os.listdir(f'/proc/{proc.pid}/task'))}")
        print(f"  panicd exec → ready (armed): {armed * 1000:.0f} ms")
        if receiver:
            now = receiver.snapshot()
            got = {name: now[name] - received[name] for name in now}
            print(f"  due work in the window: AIS-140 server got {got['frames']} frames, {got['heartbeats']} heartbeats, "
                  f"{got['logins']} logins on {got['connections']} new connections")
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)


def backends_config(root, url, room_key, ais140_port):
    """The two-backend configuration (a PanicBridge control room, an AIS-140 server), as a real box has them."""
    return (
        f"board: {root}/boards/sim.yaml\nkey: device.key\noutbox:\n  path: state/outbox.sqlite\n"
        "status_socket: status.sock\nlog_level: info\n"
        'identity:\n  imei: "490154203237518"\n  vehicle_registration: RJ14PB1234\n  vendor_id: ACME\n'
        f"backends:\n  - name: controlroom\n    url: {url}\n    controlroom_key: {room_key}\n"
        f"  - name: vlt\n    protocol: ais140\n    url: tcp://127.0.0.1:{ais140_port}\n")


def serve_backends(work, panicd, controlroom):
    """`--serve-backends WORK PANICD CONTROLROOM` (scripts/panicd-order.sh): the same two backends for a panicd run in
    WORK (which holds device.key), its configuration written to WORK/panicd-backends.yaml; prints `ready`, serves
    until standard input closes or a SIGTERM (panicd-order.sh's exit trap) comes, and stops the control room either way."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    room, url, room_key = start_controlroom(controlroom, panicd, work)
    receiver = AIS140Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        with open(os.path.join(work, "panicd-backends.yaml"), "w") as handle:
            handle.write(backends_config(ROOT, url, room_key, receiver.server_address[1]))
        print("ready", flush=True)
        sys.stdin.read()
    finally:
        receiver.shutdown()
        room.terminate()
        room.wait(timeout=20)


def main():
    if sys.argv[1] == "--serve-backends":
        serve_backends(os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]), os.path.abspath(sys.argv[4]))
        return
    panicd = os.path.abspath(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    controlroom = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
    work = tempfile.mkdtemp(prefix="idle-bench-")
    room = None
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
        source = f"gpsd on {tty} from quectel-l76k-nmea.log, panicd's sim receiver"
        measure(panicd, work, config, gpsd, seconds,
                f"idle bench, no backend: {seconds:.0f} s, 1 Hz NMEA each ({source})")

        if controlroom:
            room, url, room_key = start_controlroom(controlroom, panicd, work)
            receiver = AIS140Receiver()
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            both = os.path.join(work, "panicd-backends.yaml")
            with open(both, "w") as handle:
                handle.write(backends_config(ROOT, url, room_key, receiver.server_address[1]))
            measure(panicd, work, both, gpsd, seconds,
                    f"idle bench, two backends (control room on loopback, AIS-140 server on loopback): {seconds:.0f} s, "
                    f"1 Hz NMEA each ({source})", receiver=receiver)
            receiver.shutdown()

        gpsd.terminate()
        gpsd.wait(timeout=10)
        stop.set()
    finally:
        if room:
            room.terminate()
            room.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
