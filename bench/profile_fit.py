#!/usr/bin/env python3
"""Where the time of one pymer.lmer fit goes, next to lme4's cost per evaluation.

    python bench/profile_fit.py                 # InstEval, y ~ service + (1|s) + (1|d) + (1|dept), ML
    python bench/profile_fit.py --model synth_100k --no-r
    python bench/profile_fit.py --cprofile 25   # also print cProfile's top 25 (cumulative)

Reports: the whole lmer() call split into formula parsing, model construction
(cross-products, pattern, symbolic analysis), the optimizer (compiled: with lme4's
boundary handling and the convergence check's finite differences), the convergence
check's decisions and the result object (``--fits N``: medians of N fits after a warm-up); the number of
calls of the objective; and the cost of one compiled evaluation at the optimum
(``m.model.core.objective(m.theta, reml)``: wall, process CPU and calling-thread
CPU, whose difference is time spent in other threads: OpenMP / OpenBLAS).
With R available, lme4's devfun at the same theta is timed too, and lme4's
fit reports ``fit@optinfo$feval``.

Try environment variables to see their effect, e.g.
``OMP_THREAD_LIMIT=1 python bench/profile_fit.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata  # noqa: E402
import run as suite  # noqa: E402


def load(model):
    import pymer
    if "synth_n" in model:
        csv, types = benchdata.make_synth(model["synth_n"])
        return benchdata.load_typed(csv, json.loads(types.read_text()))
    return pymer.datasets.load(model["dataset"])


def time_calls(fn, n):
    w, c, t = [], [], []
    for _ in range(n):
        a, b, d = time.perf_counter(), time.process_time(), time.thread_time()
        fn()
        w.append(time.perf_counter() - a)
        c.append(time.process_time() - b)
        t.append(time.thread_time() - d)
    return float(np.median(w)), float(np.median(c)), float(np.median(t))


R_DEVFUN = r"""
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
spec <- fromJSON(commandArgs(TRUE)[1], simplifyVector = FALSE)
cols <- spec$types$columns
d <- read.csv(spec$csv, colClasses = vapply(cols, function(t) if (t$type %in% c("factor", "ordered")) "character"
              else if (t$type == "integer") "integer" else "numeric", ""), check.names = FALSE)
for (nm in names(cols)) if (cols[[nm]]$type %in% c("factor", "ordered"))
  d[[nm]] <- factor(d[[nm]], levels = unlist(cols[[nm]]$levels), ordered = cols[[nm]]$type == "ordered")
f <- as.formula(spec$formula)
t <- system.time(fit <- lmer(f, d, REML = isTRUE(spec$REML)))[["elapsed"]]
dfun <- lmer(f, d, REML = isTRUE(spec$REML), devFunOnly = TRUE)
th <- getME(fit, "theta")
tt <- replicate(as.integer(spec$n), system.time(dfun(th))[["elapsed"]])
cat(toJSON(list(fit_s = t, feval = fit@optinfo$feval, eval_s = median(tt), nnzL = length(getME(fit, "L")@x)),
           auto_unbox = TRUE), "\n")
"""


def main():
    reg = suite.model_registry()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="insteval_ml", choices=[k for k, v in reg.items() if not v.get("family")])
    ap.add_argument("--evals", type=int, default=20, help="timed calls of the objective at the optimum")
    ap.add_argument("--no-r", action="store_true", help="skip lme4")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N", help="print cProfile's top N")
    ap.add_argument("--fits", type=int, default=1,
                    help="fits to time after a warm-up (medians per phase); 1: one cold fit")
    args = ap.parse_args()
    model = reg[args.model]
    import pymer  # noqa: F401
    from pymer.formula import parse_formula
    from pymer.lmm import LinearMixedModel
    import pymer.lmm as plmm
    warnings.simplefilter("ignore")
    df = load(model)
    reml = bool(model["REML"])

    # objective calls made from Python (the compiled optimizer's own are m.opt.nevals and
    # the finite differences, inside the "optimizer" phase)
    calls = {"optimizer": 0, "convergence check": 0, "other": 0}
    phase = ["other"]
    orig_objective = LinearMixedModel.objective

    def counted(self, theta, REML=None):
        calls[phase[0]] += 1
        return orig_objective(self, theta, REML)

    originals = (LinearMixedModel._optimize_compiled, LinearMixedModel._optimize_python, plmm.check_convergence)
    spent = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            phase[0] = name
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
                phase[0] = "other"
        return wrapper

    LinearMixedModel._optimize_compiled = timed("optimizer", originals[0])
    LinearMixedModel._optimize_python = timed("optimizer", originals[1])
    plmm.check_convergence = timed("convergence check", originals[2])
    LinearMixedModel.objective = counted
    samples = []
    try:
        for rep in range(args.fits + (1 if args.fits > 1 else 0)):
            spent.clear()
            for k in calls:
                calls[k] = 0
            if args.cprofile and rep == args.fits - (0 if args.fits > 1 else 1):
                import cProfile
                import pstats
                prof = cProfile.Profile()
                prof.enable()
            t0 = time.perf_counter()
            mf = parse_formula(model["formula"], df)
            t1 = time.perf_counter()
            lmm = LinearMixedModel(mf, REML=reml)
            t2 = time.perf_counter()
            m = lmm.fit()
            t3 = time.perf_counter()
            if args.cprofile and rep == args.fits - (0 if args.fits > 1 else 1):
                prof.disable()
            if args.fits == 1 or rep > 0:          # the first of several is a warm-up
                samples.append((t3 - t0, t1 - t0, t2 - t1, spent.get("optimizer", 0.0),
                                spent.get("convergence check", 0.0)))
    finally:
        LinearMixedModel.objective = orig_objective
        LinearMixedModel._optimize_compiled, LinearMixedModel._optimize_python, plmm.check_convergence = originals
    total, t_parse, t_model, t_opt, t_check = np.median(np.array(samples), axis=0)
    fit_rest = total - t_parse - t_model - t_opt - t_check
    core = lmm.core
    w, c, th = time_calls(lambda: core.objective(m.theta, reml), args.evals)
    print(f"model {args.model}: {model['formula']}  (n = {lmm.n}, q = {core.q}, p = {lmm.p}, "
          f"supernodal L: {core.is_supernodal})")
    print(f"env: OMP_THREAD_LIMIT={os.environ.get('OMP_THREAD_LIMIT')} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH')}")
    print(f"lmer() total            {total * 1e3:9.3f} ms   (median of {len(samples)} fit(s)"
          f"{' after a warm-up' if args.fits > 1 else ''})")
    print(f"  parse_formula         {t_parse * 1e3:9.3f} ms")
    print(f"  LinearMixedModel()    {t_model * 1e3:9.3f} ms   (cross-products, pattern, CHOLMOD analysis)")
    print(f"  optimizer             {t_opt * 1e3:9.3f} ms   (+ boundary check and finite differences when "
          f"compiled) {calls['optimizer']} Python objective calls (m.opt.nevals = {m.opt.nevals})")
    print(f"  convergence check     {t_check * 1e3:9.3f} ms   (decisions; {calls['convergence check']} objective calls)")
    print(f"  result object, rest   {fit_rest * 1e3:9.3f} ms   {calls['other']} objective calls")
    print(f"one evaluation at the optimum: wall {w * 1e3:.2f} ms, process CPU {c * 1e3:.2f} ms, "
          f"calling thread CPU {th * 1e3:.2f} ms (median of {args.evals})")
    if args.cprofile:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.cprofile)
    if not args.no_r:
        spec = suite.job_spec(model, "lme4", argparse.Namespace(repeats=0, budget=0, slow=0))
        spec["n"] = max(3, args.evals // 2)
        out = benchdata.OUT_DIR
        out.mkdir(parents=True, exist_ok=True)
        sp = out / f"profile_{args.model}.json"
        sp.write_text(json.dumps(spec))
        rs = out / "profile_devfun.R"
        rs.write_text(R_DEVFUN)
        res = subprocess.run(["Rscript", str(rs), str(sp)], capture_output=True, text=True)
        try:
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"lme4: lmer() {r['fit_s']:.3f} s, feval {r['feval']}, devfun at the optimum "
                  f"{r['eval_s'] * 1e3:.1f} ms, nnz(L) {r['nnzL']}")
        except (IndexError, ValueError, KeyError):
            print("lme4 failed:", res.stderr[-500:])


if __name__ == "__main__":
    main()
