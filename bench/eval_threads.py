#!/usr/bin/env python3
"""One evaluation of the PLS core at the optimum with one and two threads (issue 17).

    PYTHONPATH=src python bench/eval_threads.py
    PYTHONPATH=src python bench/eval_threads.py --models insteval_int synth_100k --repeats 50

Per model (bench/run.py's registry): the fit, then ``core.objective(theta)`` at its theta
with ``core.eval_threads`` 1 and 2 in turn (alternating calls, so both see the same load),
the medians of wall time, of the process's CPU time (both threads) and of the calling
thread's CPU time (the evaluation's critical path when the second core is free: on a
shared machine the helper waits for a core and the wall time says little). The
objectives must be the same bits.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchdata  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pymer  # noqa: E402
from run import model_registry  # noqa: E402


def measure(name: str, repeats: int) -> dict:
    spec = model_registry()[name]
    if "synth_n" in spec:
        df = pd.read_csv(benchdata.make_synth(spec["synth_n"])[0])
    else:
        df = pymer.datasets.load(spec["dataset"])
    m = pymer.lmer(spec["formula"], df, REML=spec["REML"])
    core = m.model.core
    theta = np.asarray(m.theta, dtype=float)
    times: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    value = {}
    for _ in range(repeats):
        for t in (1, 2):
            core.eval_threads = t
            core.objective(theta, spec["REML"])
            w, c, h = time.perf_counter(), time.process_time(), time.thread_time()
            value[t] = core.objective(theta, spec["REML"])
            times[t].append((time.perf_counter() - w, time.process_time() - c, time.thread_time() - h))
    core.eval_threads = 1
    if value[1] != value[2]:
        raise AssertionError(f"{name}: objectives differ: {value[1]!r} {value[2]!r}")
    return {t: [statistics.median(x[i] for x in times[t]) * 1e3 for i in range(3)] for t in (1, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["insteval_int", "insteval_ml", "synth_100k"])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    print("| model | threads | wall ms | CPU ms (process) | CPU ms (calling thread) |")
    print("|---|---|---|---|---|")
    for name in args.models:
        res = measure(name, args.repeats)
        for t in (1, 2):
            w, c, h = res[t]
            print(f"| {name} | {t} | {w:.2f} | {c:.2f} | {h:.2f} |")


if __name__ == "__main__":
    main()
