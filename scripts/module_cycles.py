#!/usr/bin/env python3
"""Lists cycles between the crate's modules, at the top level (crate::a uses
crate::b) and one level down (crate::a::x uses crate::a::y, or super::y).
Tests (#[cfg(test)] modules) are left out: a test may use anything."""
import os, re, sys
from collections import defaultdict

SRC = os.path.join(os.path.dirname(__file__), "..", "src")

def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]) or not rel:
        return []
    return rel

def strip_tests(text):
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]

edges = defaultdict(set)
for root, _, files in os.walk(SRC):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(root, f)
        mod = module_of(path)
        if not mod or mod[0] == "bench":
            continue
        text = strip_tests(open(path, encoding="utf-8").read())
        for m in re.finditer(r"crate::(\w+)(?:::(\w+))?", text):
            a, b = m.group(1), m.group(2)
            if a != mod[0]:
                edges[(mod[0],)].add((a,))
            elif len(mod) > 1 and b and b != mod[1]:
                edges[(mod[0], mod[1])].add((a, b))
        if len(mod) > 1:
            for m in re.finditer(r"\bsuper::(\w+)", text):
                target = m.group(1)
                if target != mod[1] and len(mod) == 2:
                    edges[(mod[0], mod[1])].add((mod[0], target))

def cycles(graph):
    found, index, low, stack, on, n = [], {}, {}, [], set(), [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1:
                found.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return found

bad = cycles(edges)
for c in bad:
    print("cycle:", " <-> ".join("::".join(m) for m in c))
print(f"{len(bad)} cycle(s) among {len(edges)} modules")
sys.exit(1 if bad else 0)
