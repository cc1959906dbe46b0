#!/usr/bin/env python3
"""Self (exclusive) instruction counts per function from callgrind output files.

callgrind_annotate 3.19 attributes everything to `clone` for these Swift binaries (their
functions have no source file), so this reads the format itself: a cost line counts for
the current function unless it follows a `calls=` line (then it is the callee's inclusive
cost). Usage: self-cost.py FILE... [--top N] [--minus BASELINE_FILE] [--per N]
--minus subtracts a smaller run's costs (so set-up cancels out); --per divides by N (the
difference in messages) to show instructions per message.
"""
import re
import subprocess
import sys
from collections import Counter

def parse(path, costs):
    names = {}
    current = None
    after_call = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.strip())
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                current = names.get(m.group(1), m.group(1))
                after_call = False
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                parts = line.split()
                if len(parts) >= 2 and current is not None:
                    costs[current] += int(parts[1])
            elif line.startswith(("cfn=", "cfi=", "cob=")):
                m = re.match(r"cfn=\((\d+)\) (.*)", line.strip())
                if m:
                    names[m.group(1)] = m.group(2)

def demangle(names):
    try:
        out = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names),
                             capture_output=True, text=True, timeout=60).stdout.splitlines()
        return out if len(out) == len(names) else names
    except Exception:
        return names

def group(name):
    if name.startswith("$s"):
        return "swift: " + name
    return name

def main():
    args = sys.argv[1:]
    top = 40
    baseline = None
    per = 1
    if "--top" in args:
        i = args.index("--top"); top = int(args[i + 1]); del args[i:i + 2]
    if "--minus" in args:
        i = args.index("--minus"); baseline = args[i + 1]; del args[i:i + 2]
    if "--per" in args:
        i = args.index("--per"); per = int(args[i + 1]); del args[i:i + 2]
    costs = Counter()
    for path in args:
        parse(path, costs)
    if baseline:
        base = Counter()
        parse(baseline, base)
        for name, cost in base.items():
            costs[name] -= cost
    total = sum(costs.values())
    print(f"total {total / per:,.0f}" + (" per message" if per > 1 else ""))
    items = costs.most_common(top)
    pretty = demangle([n for n, _ in items])
    for (name, cost), shown in zip(items, pretty):
        print(f"{cost / per:>14,.0f} {100.0 * cost / total:5.1f}%  {shown[:150]}")

main()
