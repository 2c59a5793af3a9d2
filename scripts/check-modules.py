#!/usr/bin/env python3
"""Guard rails for the module graph, run by `make test` (and so by CI) before the build.

1. Every `import X` in a target's sources names the target's own declared dependency (a project target or a
   package product), or a module of the toolchain. An import that only works because another target happened to
   pull the module in fails here.
2. The README's module table ("may import" column) lists exactly the dependencies Package.swift declares, and
   every library target has a row.
3. Every test target mirrors a module (`XTests` for target `X`), except the command-line suite `CLITests`.
4. Every test suite in a file with async tests has a time limit (a hang fails instead of stalling CI); a
   nested suite inherits its parent's.
5. No placeholder source files (a file with nothing but comments) and no `// area:` comments remain.

Reads the manifest through `swift package dump-package`, so it sees what SwiftPM sees.
"""
import json
import os
import re
import subprocess
import sys

# Modules of the toolchain and the platform: always importable.
SYSTEM = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Dispatch",
    "Synchronization", "Testing", "XCTest", "_Concurrency", "Swift", "os", "Darwin",
}
IMPORT = re.compile(r"^\s*(?:@testable\s+|@_exported\s+|@preconcurrency\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    manifest = json.loads(subprocess.check_output(["swift", "package", "dump-package"], text=True))
    problems: list[str] = []

    targets = {}
    for target in manifest["targets"]:
        name = target["name"]
        deps = set()
        for dependency in target.get("dependencies", []):
            for kind in ("byName", "target", "product"):
                if kind in dependency:
                    deps.add(dependency[kind][0])
        path = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", name)
        targets[name] = {"type": target["type"], "deps": deps, "path": path}

    # 1. Imports are declared.
    for name, target in sorted(targets.items()):
        if target["type"] == "system":
            continue
        for directory, _, files in os.walk(target["path"]):
            for file in sorted(files):
                if not file.endswith(".swift"):
                    continue
                path = os.path.join(directory, file)
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
                # Code inside multi-line string literals (a Python script a test runs) is not Swift.
                swift = re.sub(r'"""(?:.|\n)*?"""', '""', text)
                for module in IMPORT.findall(swift):
                    if module in SYSTEM or module == name or module in target["deps"]:
                        continue
                    problems.append(f"{path}: imports {module}, which target {name} does not declare in Package.swift")
                code = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("//")]
                if not code:
                    problems.append(f"{path}: a placeholder (nothing but comments): remove it")
                for number, line in enumerate(text.splitlines(), 1):
                    if re.search(r"//\s*area:", line):
                        problems.append(f"{path}:{number}: an `// area:` comment: say what the code is for instead")

    with open("Package.swift", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if re.search(r"//\s*area:", line):
                problems.append(f"Package.swift:{number}: an `// area:` comment")

    # 2. The README's module table is true.
    with open("README.md", encoding="utf-8") as handle:
        readme = handle.read()
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 3:
            continue
        first = re.fullmatch(r"`([A-Za-z_][A-Za-z0-9_-]*)`", cells[0])
        if not first or first.group(1) not in targets:
            continue
        listed = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_-]*)`", cells[2]))
        rows[first.group(1)] = listed
    for name, target in sorted(targets.items()):
        if target["type"] not in ("regular", "executable") or name.endswith("-bench") or name.endswith("-fuzz"):
            continue
        if name not in rows:
            problems.append(f"README.md: the module table has no row for target {name}")
            continue
        if rows[name] != target["deps"]:
            missing = sorted(target["deps"] - rows[name])
            extra = sorted(rows[name] - target["deps"])
            problems.append(
                f"README.md: the row of {name} is not what Package.swift declares"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; not declared {', '.join(extra)}" if extra else ""))

    # 3. Test targets mirror modules.
    for name, target in sorted(targets.items()):
        if target["type"] != "test" or name == "CLITests":
            continue
        module = name[: -len("Tests")] if name.endswith("Tests") else None
        if module not in targets:
            problems.append(f"test target {name} mirrors no module (expected a target named {module})")

    # 4. Async suites have time limits. A suite declared inside `extension X` of a limited suite `X` inherits
    # its limit (the command-line suites nest in CLISuite, the hardware suites in HIL).
    test_files = {}
    for directory, _, files in os.walk("Tests"):
        for file in sorted(files):
            if file.endswith(".swift"):
                path = os.path.join(directory, file)
                with open(path, encoding="utf-8") as handle:
                    test_files[path] = handle.read()
    def suites(text):
        """Each `@Suite(...)` attribute (balanced parentheses), its start, and the type it declares."""
        for match in re.finditer(r"@Suite\(", text):
            depth, index = 1, match.end()
            while depth and index < len(text):
                depth += {"(": 1, ")": -1}.get(text[index], 0)
                index += 1
            declared = re.match(r"\s*(?:struct|final class|class|enum)\s+(\w+)", text[index:])
            yield match.start(), text[match.start():index], declared.group(1) if declared else None

    limited_types = {
        name for text in test_files.values() for _, attribute, name in suites(text) if ".timeLimit(" in attribute
    }
    for path, text in sorted(test_files.items()):
        if not re.search(r"\basync\b", text):
            continue
        extensions = [m.start() for m in re.finditer(r"\bextension\s+(\w+)", text) if m.group(1) in limited_types]
        for start, attribute, _ in suites(text):
            inherited = any(position < start for position in extensions)
            if ".timeLimit(" not in attribute and not inherited:
                line = text[:start].count("\n") + 1
                problems.append(f"{path}:{line}: a suite with async tests and no .timeLimit")

    for problem in problems:
        print(f"check-modules: {problem}", file=sys.stderr)
    if problems:
        print(f"check-modules: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-modules: {len(targets)} targets: imports declared, README module table true, tests mirror modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
