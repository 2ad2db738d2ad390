#!/usr/bin/env python3
"""Keeps Linux-only calls inside the `platform` module (docs/platforms.md).

    python3 .ci/platform-lint.py          # CI's `layering` stage runs it

Scans every Rust file under src-tauri/ and tests/ (comments left out) for the calls a port to
macOS or Windows would have to replace: `/proc`, `setpriv`, `rustix::process`, `prctl`, the
logind and avahi D-Bus services and avahi's socket. They may appear only in
src-tauri/engine/src/platform/, and in the few files listed in ALLOWED below, each with the
kinds it may use and why (the same list, with the replacement per OS, is in
docs/platforms.md). Fails with file:line and the rule for anything else.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# kind -> pattern (matched against code with comments removed)
KINDS = {
    "/proc": re.compile(r"/proc\b"),
    "setpriv": re.compile(r"\bsetpriv\b"),
    "rustix::process": re.compile(r"\brustix::process\b"),
    "prctl": re.compile(r"\bprctl\b"),
    "logind": re.compile(r"org\.freedesktop\.login1"),
    "avahi": re.compile(r"org\.freedesktop\.Avahi|/run/avahi-daemon"),
}

PLATFORM = "src-tauri/engine/src/platform/"

# path (file, or folder ending in /) -> (kinds allowed there, why)
ALLOWED = {
    "src-tauri/engine/src/awake/bus.rs": (
        {"logind"},
        "keep-awake's D-Bus client of systemd-logind; with no logind it reports keep-awake "
        "unavailable, so it builds and degrades everywhere; a port replaces this one file",
    ),
    "src-tauri/engine/src/discovery/avahi.rs": (
        {"avahi"},
        "discovery's D-Bus client of avahi-daemon; with no avahi Porch's own mDNS responder "
        "answers, so it builds and degrades everywhere; a port replaces this one file",
    ),
    "src-tauri/engine/src/zygote/tests.rs": (
        {"/proc"},
        "tests: check on Linux that a forked worker was reaped and is gone",
    ),
    "src-tauri/engine/src/runner/tests.rs": (
        {"/proc"},
        "tests: check on Linux that a stopped child's processes are gone",
    ),
    "src-tauri/engine/tests/": (
        {"/proc"},
        "tests: check on Linux that a stopped child's processes are gone",
    ),
    "tests/": (
        {"/proc", "setpriv", "prctl", "logind", "avahi"},
        "black-box tests: observe Linux processes, and run logind and avahi stand-ins, on CI's Linux",
    ),
}


def strip_comments(text: str) -> list[str]:
    """The file's lines with `//` comments (outside string literals) and `/* */` blocks blanked."""
    out = []
    in_block = False
    for line in text.splitlines():
        code = []
        i = 0
        in_str = False
        while i < len(line):
            c = line[i]
            if in_block:
                if line.startswith("*/", i):
                    in_block = False
                    i += 2
                else:
                    i += 1
                continue
            if in_str:
                code.append(c)
                if c == "\\" and i + 1 < len(line):
                    code.append(line[i + 1])
                    i += 2
                    continue
                if c == '"':
                    in_str = False
                i += 1
                continue
            if line.startswith("//", i):
                break
            if line.startswith("/*", i):
                in_block = True
                i += 2
                continue
            if c == '"':
                in_str = True
            code.append(c)
            i += 1
        out.append("".join(code))
    return out


def allowed_kinds(rel: str) -> set[str]:
    if rel.startswith(PLATFORM):
        return set(KINDS)
    kinds: set[str] = set()
    for path, (allowed, _why) in ALLOWED.items():
        if rel == path or (path.endswith("/") and rel.startswith(path)):
            kinds |= allowed
    return kinds


def main() -> int:
    files = sorted(p for d in ("src-tauri", "tests") for p in (ROOT / d).rglob("*.rs") if "target" not in p.parts)
    bad = []
    seen = {kind: 0 for kind in KINDS}
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        ok = allowed_kinds(rel)
        for n, line in enumerate(strip_comments(path.read_text(encoding="utf-8")), 1):
            for kind, pattern in KINDS.items():
                if pattern.search(line):
                    seen[kind] += 1
                    if kind not in ok:
                        bad.append(f"{rel}:{n}: {kind}: {line.strip()}")
    if bad:
        print("ERROR: Linux-only calls outside the platform module (src-tauri/engine/src/platform/):", file=sys.stderr)
        for b in bad:
            print("  " + b, file=sys.stderr)
        print(
            "Move the call behind a function in platform/ (linux.rs, with a fallback in fallback.rs), "
            "or, for a D-Bus service client, list the file in ALLOWED in .ci/platform-lint.py and in "
            "docs/platforms.md with why.",
            file=sys.stderr,
        )
        return 1
    counts = ", ".join(f"{k} {v}" for k, v in seen.items())
    print(f"platform lint: {len(files)} Rust files; Linux-only calls only where allowed ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
