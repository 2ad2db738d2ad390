#!/usr/bin/env python3
"""Fails when the top-level modules of porch-engine import each other in a cycle, or when
one of the forbidden arrows (FORBIDDEN: api -> store, gateway -> api, proxy -> api) exists.

A top-level module is a file or folder directly under src-tauri/engine/src. An arrow A -> B
is any mention of `crate::B` (in a `use`, a grouped `use crate::{B, …}` or a path in code)
inside A's files, tests included (`#[cfg(test)]` modules are part of A). The crate root
(lib.rs) only declares modules and re-exports, so it is left out. Prints every cycle as its
strongly connected component and exits 1; with --graph prints every arrow.

    python3 .ci/module-cycles.py [--graph] [SRC_DIR]
"""
import os
import re
import sys


def top_level_modules(src):
    mods = {}
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if name == "lib.rs":
            continue
        if os.path.isdir(path):
            files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
            mods[name] = files
        elif name.endswith(".rs"):
            mods[name[:-3]] = [path]
    return mods


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def mentions(text):
    """Top-level names reached through `crate::`, including `use crate::{a, b::c}` groups."""
    found = set(re.findall(r"\bcrate::([A-Za-z_][A-Za-z0-9_]*)", text))
    for group in re.findall(r"\bcrate::\{([^;]*?)\}\s*;", text, flags=re.S):
        depth, item = 0, ""
        for ch in group + ",":
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                head = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", item)
                if head:
                    found.add(head.group(1))
                item = ""
            else:
                item += ch
    return found


def graph(src):
    mods = top_level_modules(src)
    edges = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            with open(f, encoding="utf-8") as fh:
                text = strip_comments(fh.read())
            edges[m] |= {t for t in mentions(text) if t in mods and t != m}
    return edges


def sccs(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


# Arrows that must not exist even without a cycle: the API's handlers speak the services'
# vocabulary, never the store's rows (issue 12), and the viewer's path never calls the API.
FORBIDDEN = {("api", "store"), ("gateway", "api"), ("proxy", "api")}


def main(argv):
    show = "--graph" in argv
    args = [a for a in argv if not a.startswith("--")]
    src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "src-tauri", "engine", "src")
    edges = graph(src)
    if show:
        for m in sorted(edges):
            print(f"{m} -> {' '.join(sorted(edges[m])) or '(nothing)'}")
    bad = sorted((a, b) for a, b in FORBIDDEN if b in edges.get(a, ()))
    for a, b in bad:
        print(f"forbidden import: {a} -> {b} (a mention of crate::{b} in {a}/)")
    cycles = [c for c in sccs(edges) if len(c) > 1]
    if not cycles and not bad:
        print(f"porch-engine: {len(edges)} top-level modules, no import cycle")
        return 0
    for c in cycles:
        inner = sorted(f"{a} -> {b}" for a in c for b in edges[a] if b in c)
        print(f"import cycle among {len(c)} modules: {', '.join(c)}")
        for arrow in inner:
            print(f"    {arrow}")
    print("Each top-level module may only import modules below it (see docs/architecture.md).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
