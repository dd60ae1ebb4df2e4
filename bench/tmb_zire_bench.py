#!/usr/bin/env python3
"""Random effects in ziformula: pymer vs glmmTMB, side by side in one run (the models
of tests/reference/tmb_zire.R: zero-inflated Poisson and nbinom2, a hurdle
truncated_nbinom2, each with a site random intercept in the zero model).

    python bench/tmb_zire_bench.py --repeats 3

Each task runs once as a warm-up and then `--repeats` times in each tool (glmmTMB in
one Rscript process, pymer in this one); the medians of wall and CPU time are printed
with the ratios glmmTMB / pymer.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

import pymer  # noqa: E402
from tmbdata import load  # noqa: E402

R_TIMING = r"""
suppressMessages({library(glmmTMB); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
data_dir <- args[1]; reps <- as.integer(args[2])
types <- fromJSON(file.path(data_dir, "tmb_types.json"), simplifyVector = FALSE)
load_tmb <- function(name) {
  d <- read.csv(file.path(data_dir, paste0("tmb_", name, ".csv")), stringsAsFactors = FALSE)
  for (cn in names(types[[name]]))
    d[[cn]] <- factor(as.character(d[[cn]]), levels = unlist(types[[name]][[cn]]$levels))
  d
}
sal <- load_tmb("Salamanders")
tasks <- list(
  zip_re = function() glmmTMB(count ~ mined + (1 | site), ziformula = ~ mined + (1 | site), data = sal,
                              family = poisson),
  zinb_re = function() glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ (1 | site), data = sal,
                               family = nbinom2),
  hurdle_nb2_re = function() glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + (1 | site),
                                     data = sal, family = truncated_nbinom2))
out <- list()
for (nm in names(tasks)) {
  suppressWarnings(tasks[[nm]]())
  w <- c(); cpu <- c()
  for (i in seq_len(reps)) {
    t <- system.time(suppressWarnings(tasks[[nm]]()))
    w <- c(w, t[["elapsed"]]); cpu <- c(cpu, t[["user.self"]] + t[["sys.self"]])
  }
  out[[nm]] <- list(wall = median(w), cpu = median(cpu))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def _pymer_tasks():
    sal = load("Salamanders")
    return {
        "zip_re": lambda: pymer.glmmtmb("count ~ mined + (1 | site)", sal, ziformula="~ mined + (1 | site)",
                                        family="poisson"),
        "zinb_re": lambda: pymer.glmmtmb("count ~ spp + mined + (1 | site)", sal, ziformula="~ (1 | site)",
                                         family="nbinom2"),
        "hurdle_nb2_re": lambda: pymer.glmmtmb("count ~ spp + mined + (1 | site)", sal,
                                               ziformula="~ spp + (1 | site)", family="truncated_nbinom2"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_TIMING)
    r = json.loads(subprocess.run(["Rscript", f.name, str(REPO / "tests" / "data"), str(args.repeats)],
                                  capture_output=True, text=True, check=True).stdout)
    warnings.simplefilter("ignore")
    tasks = _pymer_tasks()
    print(f"{'task':16s} {'glmmTMB wall':>12s} {'pymer wall':>10s} {'ratio':>6s} {'glmmTMB cpu':>11s} "
          f"{'pymer cpu':>9s} {'ratio':>6s}")
    for name, fn in tasks.items():
        fn()
        wall, cpu = [], []
        for _ in range(args.repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        pw, pc = statistics.median(wall), statistics.median(cpu)
        rw, rc = r[name]["wall"], r[name]["cpu"]
        print(f"{name:16s} {rw:12.3f} {pw:10.3f} {rw / pw:6.2f} {rc:11.3f} {pc:9.3f} {rc / pc:6.2f}")


if __name__ == "__main__":
    main()
