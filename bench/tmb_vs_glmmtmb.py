#!/usr/bin/env python3
"""pymer.glmmtmb vs glmmTMB (and vs pymer.glmer where both fit the same model), in one run.

    python bench/tmb_vs_glmmtmb.py                    # every model of tests/reference/tmb.json
    python bench/tmb_vs_glmmtmb.py --repeats 5 --models sites_nbinom2 sal_zinb2_cov
    python bench/tmb_vs_glmmtmb.py --src /work/main/src     # another checkout's pymer (before/after)

For each reference model (tests/reference/tmb_models.R) both tools fit once as a
warm-up and then `--repeats` times; the median time is reported, with the ratio
glmmTMB / pymer. glmmTMB is timed in one Rscript process (its timing loop is in
this file), pymer in this process, one after the other; pymer's wall and CPU
(process) times are both reported, as the machine may be shared. Models both
pymer.glmmtmb and pymer.glmer fit (binomial and Poisson without zero inflation,
nbinom2 against glmer.nb) are also timed with glmer, and the ratio glmer / glmmtmb
is printed (>= 1: glmmtmb no slower). EXTRA adds models outside the reference set
(grouseticks' Poisson GLMM with three random-effects terms).
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
_SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv[:-1] else str(REPO / "src")
sys.path.insert(0, _SRC)
sys.path.insert(0, str(REPO / "tests"))

import pymer  # noqa: E402
import pymer.tmb  # noqa: E402
from tmbdata import REF, load  # noqa: E402

EXTRA = {  # models outside tests/reference/tmb.json, in its layout
    "grouse_poisson_3re": {"data": "grouseticks", "family": "poisson", "link": None, "ziformula": "~0",
                           "formula": "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                           "dispformula": "~1", "REML": False, "weights": None, "offset": None},
}
MODELS = {**REF, **EXTRA}

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
  ts <- numeric(0); cs <- numeric(0)
  for (i in seq_len(spec$repeats)) {
    st <- system.time(suppressWarnings(fit()))
    ts <- c(ts, st[["elapsed"]]); cs <- c(cs, st[["user.self"]] + st[["sys.self"]])
  }
  out[[m$id]] <- c(median(ts), median(cs))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""

GLMER_SAME = {  # models glmer fits identically (its family, no zi, no dispersion model)
    "cbpp_binomial": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", None),
    "cbpp_binomial_weights": ("incidence / size ~ period + (1 | herd)", "binomial", "size"),
    "owls_poisson_offset": (REF["owls_poisson_offset"]["formula"], "poisson", None),
    "grouse_poisson_3re": (EXTRA["grouse_poisson_3re"]["formula"], "poisson", None),
    # glmer.nb: the same nbinom2 likelihood, its theta by alternation
    "sites_nbinom2": (REF["sites_nbinom2"]["formula"], "nb", None),
    "owls_nbinom2_weights": (REF["owls_nbinom2_weights"]["formula"], "nb", None),
    "grouse_nbinom2_crossed": (REF["grouse_nbinom2_crossed"]["formula"], "nb", None),
}


def median_time(fn, repeats):
    """Median wall and CPU (process) seconds of `repeats` calls after a warm-up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn()
        ts, cs = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            cs.append(time.process_time() - c0)
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts), statistics.median(cs)


def _time_glmmtmb(models, repeats):
    """glmmTMB's median seconds per model, from one Rscript process."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"data_dir": str(REPO / "tests" / "data"), "repeats": repeats,
                                    "models": [{k: m.get(k) for k in ("id", "data", "formula", "family", "link",
                                                                       "ziformula", "dispformula", "REML",
                                                                       "weights", "offset")} for m in models]}))
        script = Path(tmp) / "timing.R"
        script.write_text(R_TIMING)
        r = subprocess.run(["Rscript", str(script), str(spec)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--src", default=None, help="the pymer source tree to time (default: this checkout's)")
    ap.add_argument("--r-times", default=None, help="a JSON file of glmmTMB's times: read if it exists "
                    "(so two pymer trees are compared with one glmmTMB run), else written")
    args = ap.parse_args(argv)
    models = [dict(MODELS[k], id=k) for k in args.models]
    cached = Path(args.r_times) if args.r_times else None
    if cached is not None and cached.exists():
        r_times = json.loads(cached.read_text())
        models = [m for m in models if m["id"] in r_times]
    else:
        r_times = _time_glmmtmb(models, args.repeats)
        if cached is not None:
            cached.write_text(json.dumps(r_times))
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
            if fam_g == "nb":
                t_glmer = median_time(lambda: pymer.glmer_nb(f, d, weights=w), args.repeats)
            else:
                t_glmer = median_time(lambda: pymer.glmer(f, d, family=fam_g, weights=w), args.repeats)
        tr = r_times[m["id"]]
        rows.append((m["id"], (tr, tr) if isinstance(tr, float) else tuple(tr), t_py, t_glmer))
    print(f"pymer from {pymer.__file__}")
    print("seconds (wall, CPU); ratios glmmTMB / pymer.glmmtmb and glmer / glmmtmb")
    print(f"{'model':26s} {'glmmTMB':>7s} {'cpu':>6s} {'pymer':>7s} {'cpu':>6s} {'ratio':>6s} {'cpu':>6s} "
          f"{'glmer':>7s} {'cpu':>6s} {'g/tmb':>6s} {'cpu':>6s}")
    for mid, (tr, cr), (tp, cp), tg in rows:
        g = f"{tg[0]:7.3f} {tg[1]:6.3f} {tg[0] / tp:6.2f} {tg[1] / cp:6.2f}" if tg is not None else ""
        print(f"{mid:26s} {tr:7.3f} {cr:6.3f} {tp:7.3f} {cp:6.3f} {tr / tp:6.1f} {cr / cp:6.1f} {g}")
    for i, what in ((0, "wall"), (1, "CPU")):
        ratios = [tr[i] / tp[i] for _, tr, tp, _ in rows]
        print(f"median ratio glmmTMB/pymer ({what}): {statistics.median(ratios):.1f} (min {min(ratios):.1f}, "
              f"max {max(ratios):.1f}) over {len(rows)} models, {args.repeats} repeats each")


if __name__ == "__main__":
    main()
