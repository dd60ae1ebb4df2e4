"""The harness of the small glmmTMB-feature benches (tmb_feat_bench.py,
tmb_zire_bench.py): named tasks timed in glmmTMB (one Rscript process) and in pymer
(this process), each once as a warm-up and then `repeats` times; the medians of wall
and CPU time are printed with the ratios glmmTMB / pymer.
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
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

# Before the tasks: glmmTMB, the arguments (data directory, repeats) and load_tmb(name),
# tests/data's tmb_<name>.csv with its factor levels
R_HEAD = r"""
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
"""

# After the tasks (an R list `tasks` of functions): the timing loop, JSON on stdout
R_TAIL = r"""
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


def run(description: str, r_tasks: str, pymer_tasks: Callable[[], dict]) -> None:
    """Parse --repeats, time `r_tasks` (R code defining `tasks`) in glmmTMB and
    `pymer_tasks()` (name -> function) here, and print the table."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_HEAD + r_tasks + R_TAIL)
    r = json.loads(subprocess.run(["Rscript", f.name, str(REPO / "tests" / "data"), str(args.repeats)],
                                  capture_output=True, text=True, check=True).stdout)
    warnings.simplefilter("ignore")
    tasks = pymer_tasks()
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
