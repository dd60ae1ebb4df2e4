#!/usr/bin/env python3
"""How long `import pymer` and `pymer --version` take: each the median of 5 fresh processes.

    python bench/import_time.py              # the table below, for this machine
    python bench/import_time.py --repeats 9

Targets (issue 16): ``import pymer`` within 1.25x of ``import numpy, pandas``, and
``pymer --version`` under 0.5 s. Each statement runs in a new interpreter (so nothing
is cached in ``sys.modules``), one after another, and the wall time of the whole
process is taken (interpreter start-up included, as a user sees it). The first
fit pays for the fitting stack (SciPy, the compiled core): shown as
``import pymer; pymer.lmer`` for reference.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def wall_time(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def median_time(argv: list[str], env: dict, repeats: int) -> float:
    return statistics.median(wall_time(argv, env) for _ in range(repeats))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    env = dict(os.environ)
    if any((SRC / "pymer" / "_core").glob("_pls*.so")):   # a developer's tree with its core built in
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    py = sys.executable
    rows = [
        ("python -c pass", [py, "-c", "pass"]),
        ("import numpy, pandas", [py, "-c", "import numpy, pandas"]),
        ("import pymer", [py, "-c", "import pymer"]),
        ("python -m pymer --version", [py, "-m", "pymer", "--version"]),
        ("import pymer; pymer.lmer", [py, "-c", "import pymer; pymer.lmer"]),
    ]
    script = shutil.which("pymer")
    if script:
        rows.insert(4, ("pymer --version (console script)", [script, "--version"]))
    times = {}
    print(f"median of {args.repeats} fresh processes, wall time (s)")
    for label, cmd in rows:
        times[label] = median_time(cmd, env, args.repeats)
        print(f"  {label:34s} {times[label]:6.3f}")
    ratio = times["import pymer"] / times["import numpy, pandas"]
    print(f"import pymer / import numpy, pandas = {ratio:.2f} (target <= 1.25)")
    print(f"python -m pymer --version = {times['python -m pymer --version']:.3f} s (target < 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
