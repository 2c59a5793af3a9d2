#!/usr/bin/env python3
"""Boots the rig's QEMU guest and plays the GNSS receiver on its second UART.

The guest is Debian's own kernel with the initramfs from build-initramfs.sh; it mounts this machine's root
read-only over 9p and runs scripts/hil/guest.sh SUITE, whose exit status comes back through QEMU's
isa-debug-exit device on x86-64 (QEMU exits with (status << 1) | 1, so 1 means the guest passed) and, on arm64
(`virt` has no such device), as the console line "hil: guest TOKEN finished with status N", TOKEN a fresh one
per boot on the kernel command line.

/dev/ttyS1 in the guest is a 16550 whose other end is a unix socket this script listens on; QEMU connects to
it (and reconnects after the script hangs up). On x86-64 it is the PC's second ISA UART; on arm64 (whose console
is the virt machine's PL011, ttyAMA0) the second port of a PCI 16550 card (8250_pci), the first left unconnected,
so the board file's /dev/ttyS1 is the same on both. The guest drives the receiver by writing command lines to the
UART (the receiver reads its input, as a real one reads configuration sentences):

    HIL:send NAME             send the named NMEA blob once
    HIL:stream NAME MS        send it every MS milliseconds until HIL:stop (NAME live: a new epoch each time)
    HIL:stop                  stop streaming
    HIL:unplug MS             hang up the socket, refuse QEMU's reconnects for MS milliseconds, then take
                              the next one and send the blob "replugged" (how the guest knows it is back)

Whatever else the guest writes is read and dropped: if nobody read it, the guest's transmit would stall (the
tty echoes until it is put in raw mode) and a later close would hang for tens of seconds.

Usage: run.py --kernel K --initrd I --repo R --suite S [--arch amd64|arm64] [--arg PATH]... [--timeout SECONDS]
              [--log FILE]
  --arg: a host path handed to guest.sh after the suite (arm64: panicd, then each sysroot), resolved here.
"""

import argparse
import functools
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time


def nmea(body):
    checksum = functools.reduce(lambda a, b: a ^ b, body.encode(), 0)
    return "$%s*%02X\r\n" % (body, checksum)


# NavIC ($GI) and GPS ($GP) epochs around Jaipur (26.9124 N, 75.7873 E) on 2025-11-14 from 10:15:30 UTC. A
# receiver's epoch ends when the next one starts, so every blob ends with the start of one more epoch.
NAVIC_30 = nmea("GIRMC,101530.00,A,2654.7440,N,07547.2380,E,0.0,0.0,141125,,,A,V") + nmea(
    "GIGGA,101530.00,2654.7440,N,07547.2380,E,1,08,0.9,431.0,M,-41.0,M,,"
)
GPS_31 = nmea("GPRMC,101531.00,A,2654.7450,N,07547.2390,E,0.0,0.0,141125,,,A,V") + nmea(
    "GPGGA,101531.00,2654.7450,N,07547.2390,E,1,09,0.8,431.0,M,-41.0,M,,"
)
GPS_32 = nmea("GPRMC,101532.00,A,2654.7460,N,07547.2400,E,0.0,0.0,141125,,,A,V")
BLOBS = {
    "navic": NAVIC_30 + GPS_31,
    # Line noise, a sentence with a wrong checksum, a truncated one, then good ones.
    "garbage": "\x00\xff\xfe\x13 noise $GPGGA,bad*00\r\n$GIRMC,1015\r\n" + NAVIC_30 + GPS_31,
    "replugged": GPS_31 + GPS_32,
}


def live(count):
    """A NavIC epoch COUNT seconds after 10:16:00, for a receiver that keeps streaming."""
    minute, second = divmod(count, 60)
    stamp = "10%02d%02d.00" % (16 + minute % 44, second)
    return nmea("GIRMC,%s,A,2654.7440,N,07547.2380,E,0.0,0.0,141125,,,A,V" % stamp) + nmea(
        "GIGGA,%s,2654.7440,N,07547.2380,E,1,08,0.9,431.0,M,-41.0,M,," % stamp
    )


class Receiver:
    """The host end of /dev/ttyS1."""

    def __init__(self, path, log):
        self.path = path
        self.log = log
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.lock = threading.Lock()
        self.connection = None
        self.streaming = None  # (blob, period) while streaming
        self.wake = threading.Event()
        threading.Thread(target=self.accept_loop, args=(None,), daemon=True).start()
        threading.Thread(target=self.stream_loop, daemon=True).start()

    def send(self, data):
        with self.lock:
            connection = self.connection
        if connection is None:
            self.log("receiver: not connected, dropped %d bytes" % len(data))
            return
        try:
            connection.sendall(data.encode("latin-1"))
        except OSError as error:
            self.log("receiver: sending %d bytes failed: %s" % (len(data), error))

    def accept_loop(self, greeting):
        connection, _ = self.listener.accept()
        with self.lock:
            self.connection = connection
        self.log("receiver: QEMU connected")
        if greeting:
            self.send(BLOBS[greeting])
        threading.Thread(target=self.read_loop, args=(connection,), daemon=True).start()

    def read_loop(self, connection):
        pending = b""
        while True:
            try:
                data = connection.recv(4096)
            except OSError:
                return
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                text = line.decode("latin-1").strip()
                index = text.find("HIL:")
                if index >= 0:
                    self.command(text[index + 4 :].split(), connection)

    def command(self, words, connection):
        self.log("receiver: %s" % " ".join(words))
        if words[0] == "send":
            self.send(BLOBS[words[1]])
        elif words[0] == "stream":
            self.streaming = (words[1], int(words[2]) / 1000)
            self.wake.set()
        elif words[0] == "stop":
            self.streaming = None
        elif words[0] == "unplug":
            with self.lock:
                self.connection = None
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()
            time.sleep(int(words[1]) / 1000)
            threading.Thread(target=self.accept_loop, args=("replugged",), daemon=True).start()

    def stream_loop(self):
        while True:
            self.wake.wait()
            self.wake.clear()
            count = 0
            while self.streaming is not None:
                name, period = self.streaming
                self.send(live(count) if name == "live" else BLOBS[name])
                count += 1
                time.sleep(period)


def accelerator(arch):
    """KVM only where a real KVM module is loaded; this kind of nested KVM crashes in the decompressor."""
    if arch == "arm64":
        # TCG always (this host is x86-64). A Cortex-A72 (a Pi 4's core) rather than `max`: no SVE, pointer
        # authentication or MTE for TCG to emulate, so the guest runs faster; multi-threaded TCG, one thread a vCPU.
        return ["-accel", "tcg", "-cpu", "cortex-a72"]
    if os.path.exists("/dev/kvm") and any(os.path.isdir("/sys/module/" + m) for m in ("kvm_intel", "kvm_amd")):
        return ["-accel", "kvm", "-cpu", "host"]
    # One host thread for both vCPUs: with thread=multi the kernel's live code patching (text_poke's int3) raced a
    # vCPU running a stale translation and the guest panicked at boot ("Oops: int3" in sched_clock_cpu; once in four
    # boots on a loaded host). Single-threaded TCG still gives the guest two vCPUs, run in turn, so no vCPU executes
    # code another is rewriting.
    return ["-accel", "tcg,thread=single", "-cpu", "max"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--initrd", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--suite", required=True)
    parser.add_argument("--arch", choices=["amd64", "arm64"], default="amd64")
    parser.add_argument("--arg", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--log")
    options = parser.parse_args()
    started = time.monotonic()
    logfile = open(options.log, "w") if options.log else None

    def log(line):
        stamped = "[%6.1f] %s" % (time.monotonic() - started, line)
        print(stamped, flush=True)
        if logfile:
            logfile.write(stamped + "\n")
            logfile.flush()

    workdir = tempfile.mkdtemp(prefix="panicbridge-hil-")
    uart = os.path.join(workdir, "ttyS1.sock")
    Receiver(uart, log)
    accel = accelerator(options.arch)
    token = secrets.token_hex(8)
    append = "quiet loglevel=4 panic=-1 hil.repo=%s hil.suite=%s hil.token=%s" % (options.repo, options.suite, token)
    if options.arg:
        append += " hil.args=" + ",".join(os.path.realpath(path) for path in options.arg)
    if options.arch == "arm64":
        machine = [
            "qemu-system-aarch64", "-M", "virt", "-m", "1024", "-smp", "2", *accel,
            "-append", "console=ttyAMA0 " + append,
            "-chardev", "null,id=spare", "-device", "pci-serial-2x,chardev1=spare,chardev2=gnss",
        ]
    else:
        machine = [
            "qemu-system-x86_64", "-M", "pc", "-m", "2048", "-smp", "2", *accel,
            "-append", "console=ttyS0 no_timer_check " + append,
            "-serial", "chardev:console", "-serial", "chardev:gnss",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
    command = [
        *machine,
        "-nodefaults", "-no-reboot", "-display", "none", "-nic", "none",
        "-kernel", options.kernel, "-initrd", options.initrd,
        "-chardev", "stdio,id=console,signal=off",
        "-chardev", "socket,id=gnss,path=%s,reconnect=1" % uart,
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    ]
    if options.arch == "arm64":
        command += ["-serial", "chardev:console"]
    log("boot: %s (%s)" % (options.kernel, " ".join(accel)))
    qemu = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    timer = threading.Timer(options.timeout, qemu.kill)
    timer.start()
    finished = re.compile(r"hil: guest %s finished with status (\d+)" % token)
    reported = None
    for raw in qemu.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        log("guest: " + line)
        match = finished.search(line)
        if match:
            reported = int(match.group(1))
    status = qemu.wait()
    timer.cancel()
    elapsed = time.monotonic() - started
    name = "%s (%s)" % (options.suite, options.arch)
    if status < 0:
        log("FAIL: suite %s timed out after %.0f s" % (name, options.timeout))
    elif options.arch == "amd64" and status & 1:
        # isa-debug-exit: the guest's own status.
        if status == 1:
            log("PASS: suite %s in %.1f s" % (name, elapsed))
            return 0
        log("FAIL: suite %s: guest status %d after %.1f s" % (name, status >> 1, elapsed))
    elif options.arch == "arm64" and status == 0 and reported is not None:
        if reported == 0:
            log("PASS: suite %s in %.1f s" % (name, elapsed))
            return 0
        log("FAIL: suite %s: guest status %d after %.1f s" % (name, reported, elapsed))
    else:
        log("FAIL: suite %s: QEMU exited with %d (the guest did not report)" % (name, status))
    return 1


if __name__ == "__main__":
    sys.exit(main())
