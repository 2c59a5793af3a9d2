#!/usr/bin/env python3
"""The arm64 panicd under user-mode emulation: `qemu-aarch64-static -L SYSROOT` runs the binary of
scripts/arm64/build.sh with the target release's own arm64 libraries, on each sysroot whose libraries can load it
(bookworm; trixie once panicd opens libgpiod at run time). Checks, per sysroot:
  --version (VERSION's), boards check, config check (config/panicd.sim.yaml), the demo scenario (must PASS), and the
  outbox kill test's essence: a child appends records, printing each sequence number once its commit returned; it is
  SIGKILLed at random points; every number it reported is in the exported outbox, none repeats, and the chain
  verifies (Tests/CLITests/OutboxCrashTests.swift, here with fewer rounds: emulation is ~10x slower).
Exits non-zero if any check fails. Usage: scripts/arm64/test.py [BINARY]   (make arm64-test)"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOP = os.path.join(ROOT, ".build", "arm64")
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build", "aarch64-unknown-linux-gnu", "release", "panicd")
ROUNDS = int(os.environ.get("ARM64_KILL_ROUNDS", "12"))
failures = 0
passed = 0


def check(name, ok, detail=""):
    global failures, passed
    if ok:
        passed += 1
        print(f"  ok   {name}")
    else:
        failures += 1
        print(f"  FAIL {name}" + (f"\n{detail}" if detail else ""))


def run(panicd, args, timeout=600, stdin=None):
    started = time.monotonic()
    result = subprocess.run(panicd + args, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


def kill_test(panicd):
    with tempfile.TemporaryDirectory(prefix="arm64-crash-") as directory:
        key = os.path.join(directory, "device.pem")
        db = os.path.join(directory, "outbox.db")
        result, _ = run(panicd, ["keygen", "--out", key])
        check("keygen", result.returncode == 0, result.stderr)
        if result.returncode != 0:
            return
        rng = random.Random(int(os.environ.get("ARM64_KILL_SEED", str(time.time_ns()))))
        reported, killed = [], 0
        for round_ in range(ROUNDS):
            batch = 4 if round_ % 3 == 0 else 1
            child = subprocess.Popen(panicd + ["outbox", "crash-child", "--db", db, "--key", key, "--batch", str(batch)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            target = rng.randint(0, 12)  # reported commits before the kill (0: while it opens the database)
            buffer = b""
            while buffer.count(b"\n") < target:
                chunk = os.read(child.stdout.fileno(), 4096)  # blocks until the child writes or dies
                if not chunk:
                    break
                buffer += chunk
            child.send_signal(signal.SIGKILL)
            child.wait()
            killed += child.returncode == -signal.SIGKILL
            buffer += child.stdout.read()
            child.stdout.close()
            text = buffer.decode()
            complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]  # a cut line was never reported
            reported += [int(line) for line in complete.split("\n") if line]
        check(f"{ROUNDS} children SIGKILLed", killed == ROUNDS, f"{ROUNDS - killed} exited by themselves")
        check(f"commits reported across kills ({len(reported)})", len(reported) > ROUNDS)
        check("no sequence number reported twice", len(set(reported)) == len(reported))
        check("sequence numbers never went backwards", reported == sorted(reported))
        export, _ = run(panicd, ["outbox", "export", "--db", db, "--key", key])
        check("outbox reopens and exports", export.returncode == 0, export.stderr)
        stored = set()
        import base64
        import json
        for line in export.stdout.splitlines():
            payload = line.split(".")[1]
            stored.add(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["seq"])
        missing = [seq for seq in reported if seq not in stored]
        check(f"every reported commit is stored ({len(stored)} stored)", not missing, f"missing: {missing}")
        verify, _ = run(panicd, ["verify", "--key", key, "-"], stdin=export.stdout)
        check("the exported chain verifies", verify.returncode == 0 and f"ok {len(stored)}" in verify.stdout,
              verify.stdout + verify.stderr)


def main():
    version = open(os.path.join(ROOT, "VERSION")).read().strip()
    if not os.path.exists(BINARY):
        sys.exit(f"arm64-test: no {BINARY} (make arm64-build)")
    ran = []
    for dist in os.environ.get("ARM64_DISTS", "bookworm trixie").split():
        sysroot = os.path.join(TOP, f"sysroot-{dist}")
        missing = subprocess.run([os.path.join(ROOT, "scripts/arm64/missing-libs.sh"), BINARY, sysroot],
                                 capture_output=True, text=True, check=True).stdout.strip()
        if missing:
            # One binary serves every release (libgpiod is opened at run time): one that cannot load it fails.
            check(f"Debian {dist}'s packages load panicd", False, f"panicd needs {missing}")
            continue
        ran.append(dist)
        panicd = ["qemu-aarch64-static", "-L", sysroot, BINARY]
        print(f"== {dist}: qemu-aarch64-static -L {os.path.relpath(sysroot, ROOT)} panicd")
        result, seconds = run(panicd, ["--version"])
        check(f"--version says {version} ({seconds:.1f} s)", result.stdout.strip() == version, result.stdout + result.stderr)
        result, seconds = run(panicd, ["boards", "check"])
        check(f"boards check ({seconds:.1f} s)", result.returncode == 0, result.stdout + result.stderr)
        # The simulated board's configuration names its key in .build/panicd-sim/ (made as its header says).
        if not os.path.exists(os.path.join(ROOT, ".build", "panicd-sim", "device.key")):
            os.makedirs(os.path.join(ROOT, ".build", "panicd-sim"), exist_ok=True)
            result, _ = run(panicd, ["keygen", "--out", ".build/panicd-sim/device.key"])
            check("keygen of the simulated board's key", result.returncode == 0, result.stderr)
        result, seconds = run(panicd, ["config", "check", "--config", "config/panicd.sim.yaml"])
        check(f"config check config/panicd.sim.yaml ({seconds:.1f} s)", result.returncode == 0, result.stdout + result.stderr)
        result, seconds = run(panicd, ["sim", "--scenario", "sim/scenarios/demo.yaml"], timeout=1200)
        last = result.stdout.strip().splitlines()[-1:] or [""]
        print(f"       {last[0]}")
        check(f"demo scenario PASSED ({seconds:.1f} s)", result.returncode == 0 and "PASSED" in result.stdout,
              result.stdout[-3000:] + result.stderr[-3000:])
        started = time.monotonic()
        kill_test(panicd)
        print(f"       kill test took {time.monotonic() - started:.1f} s")
    if not ran:
        check("a sysroot that can load panicd", False)
    print(f"arm64-test: {passed} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
