#!/usr/bin/env python3
"""Fits the weights of the confidence model (src/drafting/confidence.rs) to labeled questions.

Usage:
  replygate eval --questions Q.jsonl [--knowledge DIR] --json > set.json     (once per set)
  python3 scripts/fit_confidence.py [--semantic] [--features a,b,...] [--target 0.99] set1.json set2.json ...

Each question's signals (the draft's reasons) come from `eval --json`; the label is whether
the article retrieval ranks first is the expected one (out-of-scope questions are never
right). Drafts made from the answer memory are left out (they have their own model). The
model is a logistic regression, fitted by Newton's method with a small L2 penalty, every set
weighing the same whatever its size. `--semantic` fits the model used with embeddings (its
signals are only in runs with an embedder); without it, the lexical model. It prints the
weights to paste into confidence.rs, then, per set and with every set held out in turn,
precision (with its Wilson 95% lower bound) / coverage / leakage at a few thresholds, and the
lowest threshold whose lower bound reaches --target on every set at once.
No third-party packages.
"""
import json
import math
import sys

# The signals each model reads, in the order of confidence.rs's weights.
LEXICAL = ["retrieval_strength", "margin", "line_f1", "line_margin", "coverage_margin", "log_terms"]
SEMANTIC = ["retrieval_strength", "line_f1", "line_margin", "log_terms", "semantic_similarity",
            "semantic_margin", "hybrid_margin", "lexical_agreement", "semantic_agreement",
            "locale_fallback"]
# confidence.rs uses the fitted semantic weights with its bias lowered by this much, so that
# the default `high = 0.70` sends what the fit scores 0.80 and up (see its comment).
# Per-language terms (`--features ...,lang_pt,lang_it`) were tried and left out.
SEMANTIC_BIAS_SHIFT = -0.54
FEATURES = LEXICAL
L2 = 1e-2
THRESHOLDS = (0.7, 0.8, 0.9, 0.95)

FLAGS = ("few_terms", "locale_fallback")


def feature(name, o):
    """A signal's value; flags count as present or absent; a few are derived."""
    signals = o["signals"]
    if name in FLAGS:
        return 1.0 if name in signals else 0.0
    if name.startswith("lang_"):
        return 1.0 if o.get("locale") == name[5:] else 0.0
    if name == "line_f1":
        r, p = signals.get("line_recall", 0.0), signals.get("line_precision", 0.0)
        return 2 * r * p / (r + p) if r + p > 0 else 0.0
    if name == "log_terms":
        # Capped as in confidence.rs: longer questions than the data had are not extrapolated.
        return math.log1p(min(signals.get("question_terms", 0.0), 12.0))
    return float(signals.get(name, 0.0))


def load(path):
    rows = []
    for o in json.load(open(path))["outcomes"]:
        if o.get("generator") == "memory":
            continue
        first = o["retrieved"][0] if o["retrieved"] else None
        rows.append({
            "x": [feature(name, o) for name in FEATURES],
            "y": 1.0 if o["in_scope"] and first == o["expected"] else 0.0,
            "in_scope": o["in_scope"],
            "forced": o["forced_review"],
            # A draft the checks held (a finding) is never auto-sent either.
            "held": any(k.startswith("reply_") or k == "incomplete_steps" for k in o["signals"]),
        })
    return rows


def solve(a, b):
    """Gaussian elimination with partial pivoting: a x = b."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[c][c] != 0:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def fit(sets):
    rows = [(r, 1.0 / len(s)) for s in sets for r in s]
    d = len(FEATURES) + 1
    w = [0.0] * d  # bias last
    for _ in range(50):
        grad = [0.0] * d
        hess = [[0.0] * d for _ in range(d)]
        for r, weight in rows:
            x = r["x"] + [1.0]
            p = sigmoid(sum(a * b for a, b in zip(w, x)))
            for i in range(d):
                grad[i] += weight * (p - r["y"]) * x[i]
                for j in range(d):
                    hess[i][j] += weight * p * (1 - p) * x[i] * x[j]
        for i in range(d - 1):
            grad[i] += L2 * w[i]
            hess[i][i] += L2
        step = solve(hess, grad)
        w = [a - b for a, b in zip(w, step)]
        if max(abs(s) for s in step) < 1e-9:
            break
    return w


def score(w, r):
    return sigmoid(sum(a * b for a, b in zip(w, r["x"] + [1.0])))


def wilson_lower(k, n, z=1.959963984540054):
    if n == 0:
        return float("nan")
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def routing(rows, w, threshold):
    sent = [r for r in rows if score(w, r) >= threshold and not r["forced"] and not r["held"]]
    ins = sum(r["in_scope"] for r in rows)
    oos = len(rows) - ins
    right = sum(r["y"] for r in sent)
    precision = right / len(sent) if sent else float("nan")
    coverage = sum(r["in_scope"] for r in sent) / max(1, ins)
    leakage = sum(not r["in_scope"] for r in sent) / max(1, oos)
    return precision, wilson_lower(right, len(sent)), coverage, leakage


def table(names, sets, w, label):
    print(f"\n{label}")
    print(f"{'set':<24} " + "  ".join(f"@{t:.2f} P (low) / cov / leak" for t in THRESHOLDS))
    for name, rows in zip(names, sets):
        cells = []
        for t in THRESHOLDS:
            p, lo, c, l = routing(rows, w, t)
            cells.append(f"{p:6.1%} ({lo:5.1%}) / {c:5.1%} / {l:4.1%}")
        print(f"{name:<24} " + "  ".join(cells))


def main():
    global FEATURES
    args = sys.argv[1:]
    target = None
    while args and args[0].startswith("--"):
        if args[0] == "--semantic":
            FEATURES = SEMANTIC
            args = args[1:]
        elif args[0] == "--features":
            FEATURES = args[1].split(",")
            args = args[2:]
        elif args[0] == "--target":
            target = float(args[1])
            args = args[2:]
        else:
            sys.exit(__doc__)
    paths = args
    if not paths:
        sys.exit(__doc__)
    sets = [load(p) for p in paths]
    names = [p.rsplit("/", 1)[-1] for p in paths]
    w = fit(sets)
    for name, v in zip(FEATURES, w):
        print(f"    {name}: {v:.3f},")
    print(f"    bias: {w[-1]:.3f},")
    if FEATURES is SEMANTIC:
        print(f"    (confidence.rs: bias {w[-1] + SEMANTIC_BIAS_SHIFT:.3f}, lowered by {-SEMANTIC_BIAS_SHIFT})")
    table(names, sets, w, "fitted on every set")
    if target is not None:
        for t in [i / 100 for i in range(50, 100)]:
            lows = [routing(rows, w, t)[1] for rows in sets]
            if all(not math.isnan(lo) and lo >= target for lo in lows):
                print(f"\nlowest threshold whose lower bound reaches {target:.0%} on every set: {t:.2f}")
                break
        else:
            print(f"\nno threshold reaches a lower bound of {target:.0%} on every set")
    if len(sets) > 1:
        print("\neach set held out (fitted on the others):")
        for i, name in enumerate(names):
            wi = fit(sets[:i] + sets[i + 1:])
            table([name], [sets[i]], wi, f"held out: {name}")


if __name__ == "__main__":
    main()
