#!/usr/bin/env python3
"""Keep runtime/src layered (see CONTRIBUTING.md, "The runtime's layers").

Fails when
  - a file outside runtime/src/sched/ takes part in an import cycle,
  - a file imports from a higher layer than its own (L0 platform < L1
    records and leaves < L2 scheduler < L3 API), in particular when an L0
    or L1 file names the scheduler, or
  - a file other than sys.rs calls a libc function (constants and types are
    fine; unit tests are not checked).

Imports are read from the source: `crate::a::b` and `super::a` paths
anywhere in code (comments and strings stripped), and `use child::..` of a
module's own children. A path is resolved to the file of its longest module
prefix; an item a folder's `mod.rs` re-exports from a child (`pub use
child::Item`) resolves to that child, so re-exports make no false cycles.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime", "src")

L0 = {"arch", "arena", "clock", "lock", "marker", "mmap", "sys"}
L1 = {"task", "stack", "timer", "reactor", "interrupt", "monitor", "overflow", "report"}
L2 = {"sched"}


def layer(mod):
    top = mod.split("::")[0] if mod else ""
    if mod == "":
        return None  # lib.rs: the crate root re-exports everything
    if top in L0:
        return 0
    if top in L1:
        return 1
    if top in L2:
        return 2
    return 3


def modules():
    """Map module path ('' for the root, 'a::b') -> file path."""
    out = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, ROOT)[:-3].split(os.sep)
            if rel == ["lib"]:
                mod = ""
            elif rel[-1] == "mod":
                mod = "::".join(rel[:-1])
            else:
                mod = "::".join(rel)
            out[mod] = full
    return out


def strip(src):
    src = re.sub(r"//[^\n]*", "", src)
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r'r#*"(?:.|\n)*?"#*', '""', src)
    src = re.sub(r'"(?:\\.|[^"\\])*"', '""', src)
    # `#[cfg(test)] mod tests { .. }` may use anything; tests are not layers.
    # Cut each such block out by brace matching (never the rest of the file:
    # items after a test module count too).
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", src)
        if not m:
            return src
        depth, i = 0, m.end() - 1
        while i < len(src):
            depth += src[i] == "{"
            depth -= src[i] == "}"
            i += 1
            if depth == 0:
                break
        src = src[: m.start()] + src[i:]


def expand_use_groups(src):
    """`use a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (for every use)."""
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", src):
        paths.extend(_expand(m.group(1).replace(" ", "").replace("\n", "")))
    return paths


def _expand(s):
    i = s.find("{")
    if i < 0:
        return [s.split(" as ")[0]]
    prefix = s[:i]
    body = s[i + 1 : s.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        for e in _expand(p):
            out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


def main():
    mods = modules()
    srcs = {m: strip(open(f).read()) for m, f in mods.items()}
    children = {m: set() for m in mods}
    for m in mods:
        if m:
            parent = m.rsplit("::", 1)[0] if "::" in m else ""
            children[parent].add(m.rsplit("::", 1)[-1])
    # Items a module re-exports from its children: (module, item) -> child module.
    reexport = {}
    for m, src in srcs.items():
        for p in expand_use_groups(src):
            if not re.match(r"^(pub|pub\(crate\)|pub\(super\))", ""):
                pass
        for u in re.finditer(r"\bpub(?:\([a-z]+\))?\s+use\s+([^;]+);", src):
            for p in _expand(u.group(1).replace(" ", "").replace("\n", "")):
                segs = [s for s in p.split("::") if s]
                if segs and segs[0] in children[m]:
                    child = (m + "::" if m else "") + segs[0]
                    reexport[(m, segs[-1])] = child

    def resolve(cur, path):
        segs = [s for s in path.split("::") if s]
        if not segs:
            return None
        if segs[0] == "crate":
            base, segs = [], segs[1:]
        elif segs[0] == "super":
            base = cur.split("::")[:-1] if cur else []
            segs = segs[1:]
            while segs and segs[0] == "super":
                base, segs = base[:-1], segs[1:]
        elif segs[0] == "self":
            base, segs = cur.split("::") if cur else [], segs[1:]
        elif segs[0] in children.get(cur, ()):
            base = cur.split("::") if cur else []
        else:
            return None
        best = "::".join(base)
        for i in range(len(segs)):
            cand = "::".join(base + segs[: i + 1])
            if cand in mods:
                best = cand
            else:
                # An item re-exported by `best` from one of its children.
                if (best, segs[i]) in reexport:
                    best = reexport[(best, segs[i])]
                break
        return best if best in mods else None

    edges = {m: set() for m in mods}
    for m, src in srcs.items():
        found = re.findall(r"\b(?:crate|super)(?:::\w+)+", src)
        found += [p for p in expand_use_groups(src)]
        for p in found:
            t = resolve(m, p)
            if t is not None and t != m and t != "":
                edges[m].add(t)

    errors = []
    for m, src in srcs.items():
        if m == "sys":
            continue
        for call in sorted(set(re.findall(r"\blibc::([a-z_][a-z0-9_]*)\s*\(", src))):
            errors.append(f"{m or 'lib'} calls libc::{call}: system calls go through sys.rs")
    for a in mods:
        la = layer(a)
        for b in edges[a]:
            lb = layer(b)
            if la is not None and lb is not None and lb > la:
                errors.append(f"{a} (L{la}) imports {b} (L{lb}): imports go down the layers only")

    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            sccs.append(comp)

    for v in mods:
        if v not in index:
            visit(v)
    for comp in sccs:
        if len(comp) > 1:
            outside = [c for c in comp if not c.startswith("sched")]
            if outside:
                errors.append("import cycle outside sched/: " + " <-> ".join(sorted(comp)))

    if errors:
        for e in errors:
            print("layers: " + e)
        return 1
    print(f"layers: {len(mods)} files, imports go one way; the only cycle is inside sched/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
