#!/usr/bin/env python3
"""The first fit's time: ``import pymer`` and ``pymer.lmer`` on sleepstudy in a fresh
interpreter, the median of 5 fresh processes (wall and CPU time of the whole process).

    python bench/first_fit_time.py
    python bench/first_fit_time.py --repeats 9

Issue 16: the first ``pymer.lmer`` call should not pay for SciPy's statistics
(``scipy.stats``) nor ``scipy.optimize``; the script prints which of the heavy SciPy
modules the first fit imported. The machine is shared, so CPU time (user + system of
the child process) is printed beside the wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("scipy.stats", "scipy.optimize", "scipy.interpolate", "scipy.integrate", "matplotlib")
CODE = ("import sys, json, pymer\n"
        "pymer.lmer('Reaction ~ Days + (Days | Subject)', pymer.datasets.load('sleepstudy'))\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")


def one_run(env: dict) -> tuple[float, float, list[str]]:
    """Wall time, CPU time (s) and the heavy modules imported, of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CODE], check=True, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    runs = [one_run(env) for _ in range(args.repeats)]
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    print(f"import pymer; pymer.lmer(sleepstudy): median of {args.repeats} fresh processes")
    print(f"  wall {wall:.3f} s   cpu {cpu:.3f} s")
    print(f"  heavy modules imported: {', '.join(runs[-1][2]) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
