#!/usr/bin/env python3
"""What a release panicd is made of, from lld's link map (-Xlinker -Map=FILE, which scripts/arm64/build.sh
writes to .build/arm64/panicd.map): the bytes each input (a package checkout, a static runtime archive, a project
module) puts into the loaded sections, largest first, split into code (.text), read-only data (.rodata and the
Swift metadata sections), unwind tables (.eh_frame*, .gcc_except_table) and the rest. Debug sections are left out:
the package strips them. Usage: scripts/arm64/size-report.py MAP [TOP]"""
import collections
import re
import sys


def group_of(path):
    if path.startswith("<internal>"):
        return "linker (<internal>)"
    match = re.search(r"/checkouts/([^/]+)/", path)
    if match:
        return "package " + match.group(1)
    match = re.search(r"/swift_static/linux/([^/(]+)\.a\(", path)
    if match:
        return "runtime " + match.group(1)
    match = re.search(r"/release/([^/]+)\.build/", path)
    if match:
        return "module " + match.group(1)
    match = re.search(r"([^/(]+\.a)\(", path)
    if match:
        return "system " + match.group(1)
    return "other " + path.rsplit("/", 1)[-1]


def kind_of(section):
    if section.startswith((".debug", ".comment", ".note", ".symtab", ".strtab", ".shstrtab")):
        return None
    if section.startswith(".text"):
        return "code"
    if section.startswith((".eh_frame", ".gcc_except_table")):
        return "unwind"
    if section.startswith((".rodata", "swift5_", ".data.rel.ro")):
        return "rodata"
    return "other"


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    sizes = collections.defaultdict(collections.Counter)
    out_section = ""
    for line in open(path, errors="replace"):
        # VMA LMA Size Align, then the name: 1 space before an output section, 9 before an input, 17 before a symbol
        match = re.match(r"\s*([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+)( +)(.*)", line)
        if not match:
            continue
        indent, name = len(match.group(5)), match.group(6)
        if indent <= 2:
            out_section = name
        elif indent <= 10:
            kind = kind_of(out_section)
            if kind is not None:
                sizes[group_of(name)][kind] += int(match.group(3), 16)
    total = collections.Counter()
    for counter in sizes.values():
        total.update(counter)
    print(f"{'input':<48} {'total MB':>9} {'code':>8} {'rodata':>8} {'unwind':>8} {'other':>8}")
    for group, counter in sorted(sizes.items(), key=lambda item: -sum(item[1].values()))[:top]:
        print(f"{group:<48} {sum(counter.values()) / 1e6:9.2f} " +
              " ".join(f"{counter[k] / 1e6:8.2f}" for k in ("code", "rodata", "unwind", "other")))
    print(f"{'all inputs':<48} {sum(total.values()) / 1e6:9.2f} " +
          " ".join(f"{total[k] / 1e6:8.2f}" for k in ("code", "rodata", "unwind", "other")))


if __name__ == "__main__":
    main()
