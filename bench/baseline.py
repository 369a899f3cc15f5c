"""The script a researcher writes today: json.load every result file, then numpy.

Computes the seed's figures (pooled prefill percentiles, per-config mean accuracy and
T_total, an O(n^2) Pareto frontier per dataset, the budget range) and prints them as JSON,
so the benchmark can check that budgetdb gets the same answers.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections import defaultdict

import numpy as np


def _config(name: str) -> str:
    return re.sub(r"_crops\d+|_rank\d+", "", name)


def main(root: str) -> None:
    prefill = []
    points = defaultdict(list)
    for folder, _, names in os.walk(root):
        merged = {_config(n) for n in names if n.endswith(".json") and "_rank" not in n}
        runs = defaultdict(list)
        for name in sorted(names):
            if not name.endswith(".json") or ("_rank" in name and _config(name) in merged):
                continue
            with open(os.path.join(folder, name)) as handle:
                result = json.load(handle)
            runs[_config(name)].extend(result.get("per_sample_results") or [])
        for samples in runs.values():
            if not samples:
                continue
            prefill.extend(s["T_LLM_prefill"] for s in samples if s["T_LLM_prefill"] and not math.isnan(s["T_LLM_prefill"]))
            # math.fsum: np.mean's last digit depends on the order, and equal means must tie exactly
            accuracies = [s["accuracy"] for s in samples]
            latencies = [s["T_total"] for s in samples if s["T_total"]]
            accuracy = math.fsum(accuracies) / len(accuracies)
            latency = math.fsum(latencies) / len(latencies)
            points[os.path.basename(folder)].append((float(accuracy), float(latency)))
    values = np.array(prefill)
    figures = {
        "n": len(values),
        "percentiles": np.percentile(values, [0, 5, 25, 50, 75, 95, 100]).tolist(),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }
    ranges = {}
    for dataset, pts in sorted(points.items()):
        frontier = [p for p in pts if not any(q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1]) for q in pts)]
        lo = min(frontier, key=lambda p: (p[0], p[1]))
        hi = max(frontier, key=lambda p: (p[0], -p[1]))
        ranges[dataset] = (len(frontier), lo[1], hi[1])
    low = min(r[1] for r in ranges.values())
    high = max(r[2] for r in ranges.values())
    figures["frontiers"] = ranges
    figures["budget_range"] = [math.ceil(low / 10) * 10, math.ceil(high / 10) * 10]
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1])
