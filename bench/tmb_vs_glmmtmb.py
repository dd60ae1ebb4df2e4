#!/usr/bin/env python3
"""pymer.glmmtmb vs glmmTMB (and vs pymer.glmer where both fit the same model), in one run.

    python bench/tmb_vs_glmmtmb.py                    # every model of tests/reference/tmb.json
    python bench/tmb_vs_glmmtmb.py --repeats 5 --models sites_nbinom2 sal_zinb2_cov

For each reference model (tests/reference/tmb_models.R) both tools fit once as a
warm-up and then `--repeats` times; the median time is reported, with the ratio
glmmTMB / pymer. glmmTMB is timed in one Rscript process (its timing loop is in
this file), pymer in this process, one after the other. The binomial and Poisson
models are also timed with pymer.glmer (lme4's Laplace fit of the same model).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

import pymer  # noqa: E402
from tmbdata import REF, load  # noqa: E402

R_TIMING = r"""
suppressMessages({library(glmmTMB); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
spec <- fromJSON(args[1], simplifyVector = FALSE)
types <- fromJSON(file.path(spec$data_dir, "tmb_types.json"), simplifyVector = FALSE)
load_tmb <- function(name) {
  d <- read.csv(file.path(spec$data_dir, paste0("tmb_", name, ".csv")), stringsAsFactors = FALSE)
  for (cn in names(types[[name]]))
    d[[cn]] <- factor(as.character(d[[cn]]), levels = unlist(types[[name]][[cn]]$levels))
  d
}
out <- list()
for (m in spec$models) {
  d <- load_tmb(m$data)
  fn <- if (m$family == "beta") "beta_family" else m$family
  fam <- if (is.null(m$link)) get(fn)() else get(fn)(link = m$link)
  d$.w <- if (is.null(m$weights)) NULL else d[[m$weights]]
  d$.o <- if (is.null(m$offset)) 0 else d[[m$offset]]
  fit <- function() if (is.null(m$weights))
    glmmTMB(as.formula(m$formula), data = d, family = fam, ziformula = as.formula(m$ziformula),
            dispformula = as.formula(m$dispformula), REML = m$REML, offset = .o)
  else glmmTMB(as.formula(m$formula), data = d, family = fam, ziformula = as.formula(m$ziformula),
               dispformula = as.formula(m$dispformula), REML = m$REML, weights = .w, offset = .o)
  suppressWarnings(fit())
  ts <- numeric(0)
  for (i in seq_len(spec$repeats)) ts <- c(ts, system.time(suppressWarnings(fit()))[["elapsed"]])
  out[[m$id]] <- median(ts)
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""

GLMER_SAME = {  # models glmer fits identically (its family, no zi, no dispersion model)
    "cbpp_binomial": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", None),
    "cbpp_binomial_weights": ("incidence / size ~ period + (1 | herd)", "binomial", "size"),
    "owls_poisson_offset": (REF["owls_poisson_offset"]["formula"], "poisson", None),
}


def median_time(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=list(REF))
    args = ap.parse_args(argv)
    models = [dict(REF[k], id=k) for k in args.models]
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"data_dir": str(REPO / "tests" / "data"), "repeats": args.repeats,
                                    "models": [{k: m.get(k) for k in ("id", "data", "formula", "family", "link",
                                                                       "ziformula", "dispformula", "REML",
                                                                       "weights", "offset")} for m in models]}))
        script = Path(tmp) / "timing.R"
        script.write_text(R_TIMING)
        r = subprocess.run(["Rscript", str(script), str(spec)], capture_output=True, text=True, check=True)
        r_times = json.loads(r.stdout)
    rows = []
    for m in models:
        d = load(m["data"])
        fam = pymer.tmb.family(m["family"], m.get("link"))

        def fit(m=m, d=d, fam=fam):
            return pymer.glmmtmb(m["formula"], d, family=fam, ziformula=m["ziformula"],
                                 dispformula=m["dispformula"], REML=m["REML"], weights=m.get("weights"),
                                 offset=m.get("offset"))

        t_py = median_time(fit, args.repeats)
        t_glmer = None
        if m["id"] in GLMER_SAME:
            f, fam_g, w = GLMER_SAME[m["id"]]
            t_glmer = median_time(lambda: pymer.glmer(f, d, family=fam_g, weights=w), args.repeats)
        rows.append((m["id"], r_times[m["id"]], t_py, t_glmer))
    print(f"{'model':26s} {'glmmTMB s':>10s} {'pymer s':>9s} {'ratio':>7s} {'glmer s':>8s}")
    for mid, tr, tp, tg in rows:
        g = f"{tg:8.3f}" if tg is not None else " " * 8
        print(f"{mid:26s} {tr:10.3f} {tp:9.3f} {tr / tp:7.1f} {g}")
    ratios = [tr / tp for _, tr, tp, _ in rows]
    print(f"median ratio glmmTMB/pymer: {statistics.median(ratios):.1f} (min {min(ratios):.1f}, "
          f"max {max(ratios):.1f}) over {len(rows)} models, {args.repeats} repeats each")


if __name__ == "__main__":
    main()
