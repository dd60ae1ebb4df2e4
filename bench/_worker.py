"""One benchmark job in a fresh Python process: pymer or statsmodels on one model.

    python bench/_worker.py SPEC.json

Prints one ``BENCH_JSON {...}`` line per event (loaded, fit, done, error,
unavailable) so that the parent keeps what finished if it has to kill us.

Timing: time.perf_counter() (wall) and time.process_time() (CPU of all threads
of the process) around the whole fitting call (formula parsing included, data
loading excluded); the first fit is a warm-up and is not timed
unless it is the only fit (a fit slower than ``slow`` seconds is not repeated).
A warm-up under CALIBRATE_BELOW (1 s) is followed by a second, untimed fit: the
warm-up pays one-time costs (pymer's lazy imports: ~0.45 s on a 2 ms Penicillin
fit), so the second tells a fit's time. A fit under 0.2 s is timed in batches
(each timed sample is the mean of ``inner`` consecutive fits, >= ~0.25 s in all).
The R side does all of this the same way.
Memory: peak resident set size of this process (getrusage(RUSAGE_SELF).ru_maxrss,
which is /proc/self/status VmHWM) right after the first fit, and the resident
size after loading the data, before any fit.
"""
from __future__ import annotations

import json
import math
import resource
import sys
import time
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


# a warm-up faster than this (seconds) is followed by an untimed fit that sets the batch size
CALIBRATE_BELOW = 1.0


def emit(**kw):
    print("BENCH_JSON " + json.dumps(kw, default=_jsonable), flush=True)


def _jsonable(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # kB on Linux


def load_data(spec):
    if spec.get("dataset"):
        import pymer
        return pymer.datasets.load(spec["dataset"])
    from benchdata import load_typed
    return load_typed(spec["csv"], spec["types"])


# ---- pymer ---------------------------------------------------------------------

def pymer_fit(spec, df):
    import pymer
    fam = spec.get("family")
    if fam is None:
        return pymer.lmer(spec["formula"], df, REML=spec["REML"])
    if fam == "negative.binomial":
        return pymer.glmer_nb(spec["formula"], df)
    return pymer.glmer(spec["formula"], df, family=fam, nAGQ=spec.get("nAGQ", 1))


def pymer_available(spec):
    import pymer
    fam = spec.get("family")
    if fam is None:
        return None
    need = "glmer_nb" if fam == "negative.binomial" else "glmer"
    if not hasattr(pymer, need):
        return f"pymer.{need} not available in this checkout"
    return None


def pymer_info(m):
    out = {}
    try:
        ll = float(m.loglik)
        out["objective"] = -2.0 * ll           # REMLcrit (REML fits) or -2 logLik
    except Exception:
        out["objective"] = float(getattr(m, "objective", float("nan")))
    opt = getattr(m, "opt", None)
    nev = getattr(opt, "nevals", None) if opt is not None else None
    if nev is None:
        nev = getattr(m, "nevals", None)
    out["nevals"] = nev
    try:
        out["theta"] = [float(v) for v in m.theta]
    except Exception:
        pass
    try:
        out["ngrps"] = {str(k): int(v) for k, v in dict(m.ngrps).items()}
    except Exception:
        pass
    out["nobs"] = int(getattr(m, "nobs", -1))
    out["messages"] = [str(s) for s in getattr(m, "messages", [])]
    return out


# ---- statsmodels -----------------------------------------------------------------

def sm_fit(spec, df):
    import numpy as np
    import statsmodels.formula.api as smf
    sm = spec["sm"]
    data = df
    if sm.get("groups") is None:
        data = df.copy()
        data["_all"] = np.ones(len(df), dtype=np.int64)   # crossed factors as VCs of one group
        groups = "_all"
    else:
        groups = sm["groups"]
    model = smf.mixedlm(sm["formula"], data, groups=groups, re_formula=sm.get("re_formula"),
                        vc_formula=sm.get("vc_formula"))
    return model.fit(reml=spec["REML"])


def sm_info(r):
    out = {"objective": -2.0 * float(r.llf), "converged": bool(getattr(r, "converged", True))}
    rv = getattr(r, "mle_retvals", None)
    if isinstance(rv, dict):
        out["nevals"] = rv.get("fcalls")
    return out


def main(path):
    spec = json.loads(Path(path).read_text())
    tool = spec["tool"]
    try:
        if tool == "pymer":
            why = pymer_available(spec)
            if why:
                emit(event="unavailable", message=why)
                return
            fit, info = pymer_fit, pymer_info
        elif tool == "statsmodels":
            fit, info = sm_fit, sm_info
        else:
            raise ValueError(tool)
        t0 = time.perf_counter()
        df = load_data(spec)
        import pymer  # noqa: F401  (imported for pymer's version in any case)
        if tool == "statsmodels":
            import statsmodels.formula.api  # noqa: F401
        emit(event="loaded", seconds=time.perf_counter() - t0, rss_mb=rss_mb(), nrow=len(df))
        repeats, budget, slow = int(spec["repeats"]), float(spec["budget"]), float(spec["slow"])
        times = []
        i = 0
        inner = 1     # fits per timed sample: short fits are timed in batches of >= ~0.2 s
        while i <= repeats:
            with warnings.catch_warnings(record=True) as wl:
                warnings.simplefilter("always")
                c = time.process_time()
                t = time.perf_counter()
                for _ in range(inner):
                    m = fit(spec, df)
                dt = (time.perf_counter() - t) / inner
                dc = (time.process_time() - c) / inner
            rec = dict(event="fit", i=i, seconds=dt, cpu=dc, warmup=(i == 0), inner=inner)
            if i == 0:
                rec.update(info(m))
                rec["peak_mb"] = peak_mb()
                rec["warnings"] = sorted({str(w.message).splitlines()[0] for w in wl})
                first = dt
            else:
                times.append(dt)
            emit(**rec)
            del m
            if i == 0:
                if first > slow:
                    break
                repeats = min(repeats, max(1, int(math.floor(budget / max(first, 1e-9)))))
                if first < CALIBRATE_BELOW:
                    # the warm-up pays one-time costs (lazy imports, caches): a second,
                    # untimed fit tells a fit's time, and so the batch size
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t = time.perf_counter()
                        fit(spec, df)
                        first = time.perf_counter() - t
                if first < 0.2:     # short fits: batches of >= ~0.25 s
                    inner = min(200, int(math.ceil(0.25 / max(first, 1e-4))))
            i += 1
        emit(event="done", timed=len(times))
    except Exception as e:  # report, don't crash the suite
        emit(event="error", message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-2000:])


if __name__ == "__main__":
    main(sys.argv[1])
