#!/usr/bin/env python3
"""Conditional variances and the parametric bootstrap: pymer vs lme4, in one run.

    python bench/condvar_bootstrap.py                 # -> bench/CONDVAR_RESULTS.md
    python bench/condvar_bootstrap.py --quick         # smaller condvar designs, fewer replicates

Jobs (each in a fresh process, one after another):

* condvar: fit, then time ``m.condvar()`` (pymer) / ``ranef(m, condVar = TRUE)`` (lme4),
  medians over repeats; peak resident memory (VmHWM) after the fit and after the
  conditional variances. Designs: (1 | g) with 50,000 levels on 200,000 rows (the
  blocked factorization: per level), three nested factors (CHOLMOD, simplicial
  factor) and two crossed factors of 8,000 and 300 levels with the CHOLMOD factorization forced (the
  cost model would pick the blocked one): CHOLMOD's supernodal factor.
* bootstrap: ``m.bootstrap(fixef, nsim)`` against ``bootMer(m, fixef, nsim)`` on
  sleepstudy and cbpp: wall and CPU time per replicate, medians over repeats.

``--jobs bootstrap`` (or ``condvar``) rewrites that section of the report and keeps the
other, and any notes under their own ``## `` headings, from the existing file.

The data are generated here (numpy, fixed seed) and written to bench/out/ as CSV,
which both sides read.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
REPO = BENCH.parent

CONDVAR = {
    "ranint_50k": dict(formula="y ~ x + (1 | g)", rows=200_000, levels=50_000, kind="ranint"),
    "nested_3": dict(formula="y ~ x + (1 | c) + (1 | a) + (1 | b)", rows=60_000, levels=20_000, kind="nested"),
    "crossed_2": dict(formula="y ~ x + (1 | g) + (1 | h)", rows=40_000, levels=8_000, levels2=300,
                      kind="crossed", method="cholmod"),
}
QUICK = {"ranint_50k": dict(rows=40_000, levels=10_000), "nested_3": dict(rows=20_000, levels=6_000),
         "crossed_2": dict(rows=20_000, levels=4_000, levels2=300)}


def make_data(name, spec):
    rng = np.random.default_rng(20261130)
    n, L = spec["rows"], spec["levels"]
    d = {"x": rng.standard_normal(n)}
    if spec["kind"] == "ranint":
        g = rng.integers(0, L, n)
        d["g"] = g
        y = 0.5 * d["x"] + rng.standard_normal(L)[g]
    elif spec["kind"] == "nested":
        c = rng.integers(0, L, n)
        d.update(c=c, a=c // 4, b=c // 20)
        y = 0.5 * d["x"] + rng.standard_normal(L)[c] + rng.standard_normal(L // 4 + 1)[c // 4] \
            + rng.standard_normal(L // 20 + 1)[c // 20]
    else:
        g = rng.integers(0, L, n)
        L2 = spec["levels2"]
        h = rng.integers(0, L2, n)
        d.update(g=g, h=h)
        y = 0.5 * d["x"] + rng.standard_normal(L)[g] + 0.5 * rng.standard_normal(L2)[h]
    d["y"] = 1.0 + y + rng.standard_normal(n)
    path = OUT / f"condvar_{name}.csv"
    pd.DataFrame(d).to_csv(path, index=False)
    return path


# ---- workers ------------------------------------------------------------------------

def _vmhwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024


def pymer_condvar(path, formula, repeats, method=None):
    import time
    import warnings
    import pymer
    d = pd.read_csv(path)
    for col in ("g", "h", "a", "b", "c"):
        if col in d:
            d[col] = pd.Categorical(d[col])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method is None:
            m = pymer.lmer(formula, d)
        else:
            from pymer.formula import parse_formula
            from pymer.lmm import LinearMixedModel
            model = LinearMixedModel(parse_formula(formula, d))
            model.core.choose_factorization(method)
            m = model.fit()
    mem_fit = _vmhwm_mb()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        m.condvar()
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    tab = m.ranef_table()
    t_table = time.perf_counter() - t
    return dict(seconds=statistics.median(times), ranef_table_seconds=t_table, mem_fit_mb=mem_fit,
                mem_peak_mb=_vmhwm_mb(), factorization=m.model.core.factorization,
                supernodal=bool(m.model.core.is_supernodal), q=int(m.re.q), rows=len(tab),
                condsd_first=float(tab["condsd"].iloc[0]))


def pymer_bootstrap(model, nsim, repeats):
    import time
    import warnings
    import pymer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model == "sleepstudy":
            m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
        else:
            m = pymer.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                            pymer.datasets.load("cbpp"), family="binomial")

    def stat(fit):
        return fit.fixef

    m.bootstrap(stat, nsim=5, seed=1, progress=False)          # warm-up
    per, cpu = [], []
    for r in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        b = m.bootstrap(stat, nsim=nsim, seed=r + 1, progress=False)
        per.append((time.perf_counter() - t) / nsim)
        cpu.append((time.process_time() - c) / nsim)
    return dict(seconds=statistics.median(per), cpu_seconds=statistics.median(cpu), nsim=nsim,
                n_failed=b.n_failed, se=[float(x) for x in b.summary()["std. error"]])


R_CONDVAR = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
a <- commandArgs(trailingOnly = TRUE)
hwm <- function() { s <- readLines("/proc/self/status"); as.numeric(strsplit(trimws(sub("VmHWM:", "", s[startsWith(s, "VmHWM:")])), "\\s+")[[1]][1]) / 1024 }
d <- read.csv(a[1])
for (v in c("g", "h", "a", "b", "c")) if (v %in% names(d)) d[[v]] <- factor(d[[v]])
m <- lmer(as.formula(a[2]), d)
mem_fit <- hwm()
reps <- as.integer(a[3]); tt <- numeric(0)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  rr <- ranef(m, condVar = TRUE)
  tt <- c(tt, proc.time()[["elapsed"]] - t0)
  if (tt[1] > 20) break
}
pv <- attr(rr[[1]], "postVar")
cat("RESULT ", toJSON(list(seconds = median(tt), mem_fit_mb = mem_fit, mem_peak_mb = hwm(),
    condsd_first = sqrt(pv[1, 1, 1])), auto_unbox = TRUE, digits = NA), "\n", sep = "")
"""

R_BOOT = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
a <- commandArgs(trailingOnly = TRUE)
m <- if (a[1] == "sleepstudy") lmer(Reaction ~ Days + (Days | Subject), sleepstudy) else
  glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
nsim <- as.integer(a[2]); reps <- as.integer(a[3])
invisible(bootMer(m, fixef, nsim = 3, seed = 1))
per <- numeric(0); cpu <- numeric(0)
for (r in seq_len(reps)) {
  t0 <- proc.time()
  b <- suppressWarnings(suppressMessages(bootMer(m, fixef, nsim = nsim, seed = r)))
  t1 <- proc.time() - t0
  per <- c(per, t1[["elapsed"]] / nsim)
  cpu <- c(cpu, (t1[["user.self"]] + t1[["sys.self"]]) / nsim)
}
cat("RESULT ", toJSON(list(seconds = median(per), cpu_seconds = median(cpu), nsim = nsim,
    se = unname(apply(b$t, 2, sd))), auto_unbox = TRUE, digits = NA), "\n", sep = "")
"""


def run_python(call: str) -> dict:
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import json, condvar_bootstrap as cb; " \
           f"print('RESULT', json.dumps(cb.{call}))"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    return _result(out)


def run_r(script: str, *args) -> dict:
    path = OUT / "condvar_bootstrap_job.R"
    path.write_text(script)
    out = subprocess.run(["Rscript", str(path), *map(str, args)], capture_output=True, text=True,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    return _result(out)


def _result(out) -> dict:
    for line in out.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"job failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", default=str(BENCH / "CONDVAR_RESULTS.md"))
    ap.add_argument("--jobs", nargs="+", choices=["condvar", "bootstrap"], default=["condvar", "bootstrap"],
                    help="which part(s) to run (default both)")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    rows_cv, rows_bt = [], []
    for name, spec in (CONDVAR.items() if "condvar" in args.jobs else ()):
        spec = dict(spec, **(QUICK[name] if args.quick else {}))
        path = make_data(name, spec)
        p = run_python(f"pymer_condvar({str(path)!r}, {spec['formula']!r}, {args.repeats}, "
                       f"{spec.get('method')!r})")
        r = run_r(R_CONDVAR, path, spec["formula"], args.repeats)
        rows_cv.append((name, spec, p, r))
        print(name, "pymer", p, "lme4", r, flush=True)
    nsim = {"sleepstudy": (200, 40), "cbpp": (100, 20)}
    for model, (np_, nr) in (nsim.items() if "bootstrap" in args.jobs else ()):
        if args.quick:
            np_, nr = np_ // 4, nr // 2
        p = run_python(f"pymer_bootstrap({model!r}, {np_}, {args.repeats})")
        r = run_r(R_BOOT, model, nr, args.repeats)
        rows_bt.append((model, p, r))
        print(model, "pymer", p, "lme4", r, flush=True)
    write_report(args.output, rows_cv, rows_bt, args)


def _kept_sections(path, args):
    """The sections of an existing report that this run does not regenerate (the other
    job's table, notes under their own '## ' headings), by heading."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    out, head = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            head = line
            out[head] = []
        elif head is not None:
            out[head].append(line)
    ran = {CONDVAR_HEAD: "condvar" in args.jobs, BOOT_HEAD: "bootstrap" in args.jobs}
    return {h: body for h, body in out.items() if not ran.get(h, False)}


CONDVAR_HEAD = "## m.condvar() vs ranef(m, condVar = TRUE)"
BOOT_HEAD = "## m.bootstrap(fixef, nsim) vs bootMer(m, fixef, nsim)"


def write_report(path, rows_cv, rows_bt, args):
    kept = _kept_sections(path, args)
    versions = subprocess.run(["Rscript", "-e", "cat(as.character(packageVersion('lme4')))"],
                              capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    L = ["# Conditional variances and bootstrap: pymer vs lme4", "",
         f"`python bench/condvar_bootstrap.py{' --quick' if args.quick else ''}` on "
         f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
         f"{os.cpu_count()} cores (load average {load[0]:.1f} at the end: a shared machine), "
         f"lme4 {versions}, one BLAS thread on both sides. Every job in its own fresh process, one after "
         "another; medians over repeats (lme4's slow condVar runs once)." +
         ("" if set(args.jobs) == {"condvar", "bootstrap"} else
          f" This run: {', '.join(args.jobs)} (the other section is kept from an earlier run)."), ""]
    if CONDVAR_HEAD in kept:
        L += [CONDVAR_HEAD] + kept.pop(CONDVAR_HEAD)
    else:
        L += _condvar_section(rows_cv)
    if BOOT_HEAD in kept:
        L += [BOOT_HEAD] + kept.pop(BOOT_HEAD)
    else:
        L += _boot_section(rows_bt)
    for head, body in kept.items():        # notes written by hand under their own headings
        L += [head] + body
    Path(path).write_text("\n".join(L).rstrip("\n") + "\n")
    print("wrote", path)


def _condvar_section(rows_cv):
    L = ["## m.condvar() vs ranef(m, condVar = TRUE)", "",
         "Time of the conditional variances alone (the fit is not counted); memory is the "
         "process's peak resident set size (VmHWM) after the fit and after the conditional variances.", "",
         "| design | rows | q | pymer factor | pymer s | lme4 s | lme4 / pymer | pymer MB fit -> peak | "
         "lme4 MB fit -> peak | condsd[1] pymer / lme4 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, spec, p, r in rows_cv:
        fac = p["factorization"] + (" (supernodal)" if p["supernodal"] else
                                    " (simplicial)" if p["factorization"] == "cholmod" else " (per level)")
        L.append(f"| {name}: `{spec['formula']}` | {spec['rows']:,} | {p['q']:,} | {fac} | {p['seconds']:.4f} | "
                 f"{r['seconds']:.2f} | {r['seconds'] / p['seconds']:.0f}x | {p['mem_fit_mb']:.0f} -> "
                 f"{p['mem_peak_mb']:.0f} | {r['mem_fit_mb']:.0f} -> {r['mem_peak_mb']:.0f} | "
                 f"{p['condsd_first']:.6g} / {r['condsd_first']:.6g} |")
    L += ["", "`m.ranef_table()` (modes, conditional SDs, the long table) on the same fits: " +
          ", ".join(f"{name} {p['ranef_table_seconds']:.3f} s" for name, _, p, _ in rows_cv) + ".", ""]
    return L


def _boot_section(rows_bt):
    L = [BOOT_HEAD, "",
         "Time per replicate (simulate, refit from the estimates, the statistic): wall clock and "
         "CPU time (user + system) of the process.", "",
         "| model | pymer ms / replicate (nsim) | lme4 ms / replicate (nsim) | lme4 / pymer | "
         "CPU ms / replicate, pymer / lme4 | lme4 / pymer (CPU) | "
         "bootstrap SE of the fixed effects, pymer / lme4 |", "|---|---|---|---|---|---|---|"]
    for model, p, r in rows_bt:
        se = "; ".join(f"{a:.3g} / {b:.3g}" for a, b in zip(p["se"], r["se"]))
        L.append(f"| {model} | {1e3 * p['seconds']:.2f} ({p['nsim']}) | {1e3 * r['seconds']:.1f} ({r['nsim']}) | "
                 f"{r['seconds'] / p['seconds']:.0f}x | {1e3 * p['cpu_seconds']:.2f} / "
                 f"{1e3 * r['cpu_seconds']:.1f} | {r['cpu_seconds'] / p['cpu_seconds']:.0f}x | {se} |")
    return L + [""]


if __name__ == "__main__":
    main()
