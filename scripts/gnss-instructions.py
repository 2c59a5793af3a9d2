#!/usr/bin/env python3
"""Instructions per NMEA sentence for the arm64 and the x86-64 gnss-bench, counted the same way for both under
qemu-user (times under emulation mean nothing; instruction counts do). Run by `make bench-arm64`.

Debian 12's qemu-user-static 7.2 cannot load TCG plugins (no libinsn.so), so the count comes from qemu's own logs:
`-d in_asm` lists each translated block's guest instructions, and with block chaining off (`nochain`) `-d exec`
logs every block executed; the count is the sum over executed blocks of their length. (Checked against
`-singlestep`, where every block is one instruction: 19,990,557 against 19,992,464 for one arm64 decode run,
and against valgrind's count for the x86-64 binary.) The log streams through a pipe and is counted as it comes.

Each figure is the difference between a run on the fixture corpus twice over and a run on it once, divided by the
sentences framed in one copy, so start-up (the dynamic loader, the Swift runtime) cancels out.

    gnss-instructions.py ARM64-GNSS-BENCH ARM64-SYSROOT X86-GNSS-BENCH FILE.log...
"""
import os
import re
import subprocess
import sys
import tempfile

BLOCK_LINE = re.compile(rb"^0x([0-9a-f]+):")
# qemu 7.2: "Trace 0: 0x7f... [cs_base/pc/flags/cflags] symbol"
TRACE_LINE = re.compile(rb"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")


def count_instructions(command: list[str], input_path: str) -> tuple[int, bytes]:
    """Guest instructions `command` (a qemu-user command line) executes on `input_path`, and its output."""
    read_end, write_end = os.pipe()
    full = command[:1] + ["-d", "in_asm,exec,nochain", "-D", f"/dev/fd/{write_end}"] + command[1:]
    with open(input_path, "rb") as stdin, tempfile.TemporaryFile() as stdout:
        process = subprocess.Popen(full, stdin=stdin, stdout=stdout, pass_fds=(write_end,))
        os.close(write_end)
        sizes: dict[int, int] = {}
        block_pc = None
        block_size = 0
        executed = 0
        unknown = 0
        with os.fdopen(read_end, "rb", buffering=1 << 20) as log:
            for line in log:
                if line.startswith(b"Trace"):
                    match = TRACE_LINE.match(line)
                    if match:
                        size = sizes.get(int(match.group(1), 16))
                        if size is None:
                            unknown += 1
                        else:
                            executed += size
                    continue
                match = BLOCK_LINE.match(line)
                if match:
                    if block_pc is None:
                        block_pc = int(match.group(1), 16)
                        block_size = 0
                    block_size += 1
                elif block_pc is not None:
                    # The end of a block's listing: its latest translation is the one that runs.
                    sizes[block_pc] = block_size
                    block_pc = None
        if process.wait() != 0:
            sys.exit(f"gnss-instructions: {' '.join(command)} exited with {process.returncode}")
        if unknown:
            sys.exit(f"gnss-instructions: {unknown} executed blocks had no listing in {' '.join(command)}")
        stdout.seek(0)
        return executed, stdout.read()


def main() -> int:
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    arm64_bench, sysroot, x86_bench, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    machines = {
        "arm64": ["qemu-aarch64-static", "-L", sysroot, arm64_bench],
        "x86-64": ["qemu-x86_64-static", x86_bench],
    }
    with tempfile.TemporaryDirectory() as scratch:
        once = os.path.join(scratch, "once.log")
        twice = os.path.join(scratch, "twice.log")
        corpus = b""
        for name in files:
            with open(name, "rb") as file:
                data = file.read()
            corpus += data if data.endswith(b"\n") else data + b"\n"
        with open(once, "wb") as file:
            file.write(corpus)
        with open(twice, "wb") as file:
            file.write(corpus * 2)
        # The sentences framed in one copy, as gnss-bench --parse prints them ("framed N parsed M").
        _, printed = count_instructions(machines["x86-64"] + ["--parse"], once)
        framed = int(printed.split()[1])
        rows = {}
        for path, label in (("--parse", "parse-only"), ("--decode", "decode-to-JSON")):
            for machine, command in machines.items():
                single, _ = count_instructions(command + [path], once)
                double, _ = count_instructions(command + [path], twice)
                rows.setdefault(label, {})[machine] = (double - single) / framed
    print(f"instructions per sentence under qemu-user (2x minus 1x corpus: {len(corpus)} bytes, {framed} sentences)")
    print(f"  {'':16} {'arm64':>10} {'x86-64':>10} {'arm64/x86-64':>13}")
    for label, counts in rows.items():
        ratio = counts["arm64"] / counts["x86-64"]
        print(f"  {label:16} {counts['arm64']:10.0f} {counts['x86-64']:10.0f} {ratio:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
