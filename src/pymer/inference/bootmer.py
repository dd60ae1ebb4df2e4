"""Parametric bootstrap of a statistic of a fit, lme4's ``bootMer``: simulate responses
from the fitted model, refit, apply the statistic; chunks of replicates through the array
path (:mod:`.bootsim`, :mod:`.bootrefit`), in worker processes on request."""
from __future__ import annotations

from typing import Any, Callable, Literal
from numpy.typing import ArrayLike
import multiprocessing as mp
import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from scipy import stats

from .._progress import progress as _progress
from ..errors import warn
from .bootrefit import refitter, simulates_by_array
from .bootsim import simulate_matrix
from .params import _ci_labels

__all__ = ["bootstrap", "BootstrapResult"]

#: replicates simulated and refitted together (LMMs: one compiled call per chunk), at most
#: _CHUNK_VALUES simulated values at a time (64 MB)
_CHUNK = 50
_CHUNK_VALUES = 8_000_000


def _chunk_size(res) -> int:
    return max(1, min(_CHUNK, _CHUNK_VALUES // max(int(res.nobs), 1)))


class BootstrapResult:
    """Replicates of a statistic under the parametric bootstrap.

    Attributes
    ----------
    t0 : ndarray (k,)
        The statistic of the fitted model.
    t : ndarray (nsim, k)
        One row per replicate (NaN where the refit failed).
    names : list of str
    seed : the master seed; replicate i used ``numpy.random.SeedSequence(seed).spawn(nsim)[i]``.
    n_failed : int
        Replicates whose refit or statistic raised an error.
    n_warned : int
        Replicates whose refit raised warnings (convergence, singular fit), kept.
    """

    def __init__(self, t0: ArrayLike, t: ArrayLike, names: list[str], seed: Any, n_failed: int = 0,
                 n_warned: int = 0, errors: Any = ()) -> None:
        self.t0 = np.asarray(t0, dtype=np.float64)
        self.t = np.asarray(t, dtype=np.float64)
        self.names = list(names)
        self.seed = seed
        self.n_failed = int(n_failed)
        self.n_warned = int(n_warned)
        self.errors = list(errors)

    @property
    def nsim(self) -> int:
        return self.t.shape[0]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.t, columns=self.names)

    def confint(self, level: float = 0.95, type: Literal["perc", "basic", "norm"] = "perc") -> pd.DataFrame:
        """Bootstrap intervals: "perc" (percentile), "basic" or "norm"."""
        a = (1 - level) / 2
        t = self.t
        ok = np.all(np.isfinite(t), axis=1) if t.ndim == 2 else np.isfinite(t)
        t = t[ok]
        if type == "perc":
            lo, hi = np.quantile(t, [a, 1 - a], axis=0)
        elif type == "basic":
            qlo, qhi = np.quantile(t, [a, 1 - a], axis=0)
            lo, hi = 2 * self.t0 - qhi, 2 * self.t0 - qlo
        elif type == "norm":
            z = stats.norm.ppf(1 - a)
            bias = t.mean(axis=0) - self.t0
            sd = t.std(axis=0, ddof=1)
            lo, hi = self.t0 - bias - z * sd, self.t0 - bias + z * sd
        else:
            raise ValueError(f"type={type!r}: use 'perc', 'basic' or 'norm'")
        return pd.DataFrame(np.column_stack([lo, hi]), index=self.names, columns=_ci_labels(level))

    def summary(self) -> pd.DataFrame:
        t = self.t
        return pd.DataFrame({"original": self.t0, "bias": np.nanmean(t, axis=0) - self.t0,
                             "std. error": np.nanstd(t, axis=0, ddof=1)}, index=self.names)

    def __repr__(self):
        lines = [f"Parametric bootstrap: {self.nsim} replicates (seed {self.seed})"]
        if self.n_failed:
            lines.append(f"{self.n_failed} replicate(s) failed")
        if self.n_warned:
            lines.append(f"{self.n_warned} replicate(s) gave warnings")
        lines.append(self.summary().to_string())
        return "\n".join(lines)


_WORKER: dict = {}


def _boot_init(res, func, use_u):
    """Worker set-up: the fitted model, inherited by fork or unpickled (a result pickles
    its model, which rebuilds its compiled core from the model frame)."""
    _WORKER["state"] = (res, func, use_u)
    _WORKER.pop("refits", None)


def _refits(res):
    """This process's refitter of res (:func:`pymer.inference.bootrefit.refitter`), built once."""
    got = _WORKER.get("refits")
    if got is None or got[0] is not res:
        got = _WORKER["refits"] = (res, refitter(res))
    return got[1]


def _simulate(res, rngs, use_u):
    """The simulated responses (n, k) of the replicates' generators, or per replicate the
    exception simulate raised (fits whose simulate is their own: one call each)."""
    if simulates_by_array(res):
        return simulate_matrix(res, rngs, use_u), [None] * len(rngs)
    cols, errs = [], []
    for rng in rngs:
        try:
            cols.append(np.asarray(res.simulate(1, seed=rng, use_u=use_u), dtype=np.float64).ravel())
            errs.append(None)
        except Exception as e:      # a failed replicate is recorded, as bootMer does
            cols.append(None)
            errs.append(e)
    n = next((c.size for c in cols if c is not None), res.nobs)
    Y = np.column_stack([c if c is not None and c.size == n else np.zeros(n) for c in cols])
    return Y, errs


def _boot_chunk(seeds):
    """Replicates of some seeds: simulate all responses at once, refit them (LMMs in one
    compiled loop), apply func to each fit. Per replicate (values, error, warned); a
    replicate does not depend on the others in the chunk."""
    res, func, use_u = _WORKER["state"]
    rngs = [np.random.default_rng(s) for s in seeds]
    out = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        Y, sim_errors = _simulate(res, rngs, use_u)
        refits = _refits(res)
        refits.fit(Y)
    shared_warning = len(w) > 0
    for j in range(len(seeds)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                if sim_errors[j] is not None:
                    raise sim_errors[j]
                v = func(refits.result(j))
                val = np.atleast_1d(np.asarray(list(v.values()) if isinstance(v, dict) else v,
                                               dtype=np.float64)).ravel()
                err = None
            except Exception as e:   # a failed replicate is recorded, as bootMer does
                val, err = None, f"{type(e).__name__}: {e}"
        out.append((val, err, shared_warning or len(w) > 0))
    return out


def _boot_one(seed):
    """One replicate: simulate from the fitted model with this seed, refit, apply func."""
    return _boot_chunk([seed])[0]


def _chunks(seeds, size):
    return [seeds[i:i + size] for i in range(0, len(seeds), size)]


def _serial(seeds, chunk):
    for c in _chunks(seeds, chunk):
        yield from _boot_chunk(c)


def _stat_names(v, size):
    if isinstance(v, pd.Series):
        return [str(x) for x in v.index]
    if isinstance(v, dict):
        return [str(x) for x in v]
    return [f"t{i + 1}" for i in range(size)]


def bootstrap(res: Any, func: Callable[[Any], Any], nsim: int = 100, seed: int | None = None, *,
              n_jobs: int = 1, progress: Any = None, use_u: bool = False,
              mp_context: str | None = None) -> BootstrapResult:
    """Parametric bootstrap of a statistic, as lme4's ``bootMer``.

    Each replicate simulates a response from the fitted model (what ``res.simulate``
    draws), refits the model to it (as ``res.refit``, started at the estimates) and
    applies ``func`` to the refit. Replicates go in chunks: the chunk's responses are
    simulated as one array (:func:`pymer.inference.bootsim.simulate_matrix`); a linear
    mixed model refits them all in one compiled loop and hands ``func`` light fits
    (fixef, theta, sigma, vcov, VarCorr, logLik and deviance at once, anything else
    builds the refitted model when first used); a GLMM refits each on one working copy
    of the model, with the fixed effects started at the fit's estimates (as theta is)
    rather than at the GLM's fit to the response, which moves the replicates by no more
    than the optimizer's tolerance (see :mod:`pymer.inference.bootrefit`). Fits with a
    ``simulate`` or ``refit`` of their own are refitted through them, one by one.

    Parameters
    ----------
    res : fitted model
    func : callable
        ``func(fit)`` -> number or 1-d array (a pandas Series names the columns).
        For ``n_jobs > 1`` on platforms without the "fork" start method it must be
        picklable (a module-level function).
    nsim : int
    seed : int, SeedSequence or None
        Master seed. Replicate i uses the i-th child of
        ``numpy.random.SeedSequence(seed)``, so results do not depend on n_jobs.
    n_jobs : int
        Worker processes (concurrent.futures); -1 for all CPUs.
    progress : bool or None
        A tqdm progress bar; by default only when tqdm is installed and stderr is a
        terminal (see :func:`pymer._progress.progress`).
    use_u : bool
        Condition on the estimated random effects (lme4's ``use.u = TRUE``).
    mp_context : str, optional
        Multiprocessing start method; default "fork" where available.

    Returns
    -------
    BootstrapResult
    """
    nsim = int(nsim)
    if nsim < 1:
        raise ValueError("nsim must be at least 1")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seeds = ss.spawn(nsim)
    v0 = func(res)
    t0 = np.atleast_1d(np.asarray(v0 if not isinstance(v0, dict) else list(v0.values()),
                                  dtype=np.float64)).ravel()
    names = _stat_names(v0, t0.size)
    if n_jobs is None:
        n_jobs = 1
    if n_jobs < 0:
        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(int(n_jobs), nsim))
    results = []
    with res.restoring_core():
        if n_jobs == 1:
            _WORKER["state"] = (res, func, use_u)
            try:
                for r in _progress(_serial(seeds, _chunk_size(res)), total=nsim, desc="bootstrap", enable=progress):
                    results.append(r)
            finally:
                _WORKER.pop("state", None)
                _WORKER.pop("refits", None)
        else:
            results = _bootstrap_parallel(res, func, use_u, seeds, n_jobs, mp_context, progress)
    t = np.full((nsim, t0.size), np.nan)
    n_failed = n_warned = 0
    errors = []
    for i, (val, err, warned) in enumerate(results):
        if err is not None or val is None or val.size != t0.size:
            n_failed += 1
            errors.append(err or f"replicate {i + 1}: statistic has {0 if val is None else val.size} values, "
                                 f"expected {t0.size}")
            continue
        t[i] = val
        n_warned += bool(warned)
    if n_failed == nsim:
        raise RuntimeError(f"all {nsim} bootstrap replicates failed; first error: {errors[0]}")
    if n_failed:
        warn(f"{n_failed} of {nsim} bootstrap replicates failed; first error: {errors[0]}",
             UserWarning)
    seed_out = seed if not isinstance(seed, np.random.SeedSequence) else seed.entropy
    return BootstrapResult(t0, t, names, seed_out, n_failed, n_warned, errors)


def _bootstrap_parallel(res, func, use_u, seeds, n_jobs, mp_context, progress):
    method = mp_context or ("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    ctx = mp.get_context(method)
    # fork: the children inherit the fitted model and func, nothing is pickled;
    # otherwise both are pickled to each worker once
    chunk = max(1, min(_chunk_size(res), len(seeds) // (4 * n_jobs)))
    out = []
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_boot_init,
                             initargs=(res, func, use_u)) as ex:
        it = (r for rs in ex.map(_boot_chunk, _chunks(seeds, chunk)) for r in rs)
        for r in _progress(it, total=len(seeds), desc="bootstrap", enable=progress):
            out.append(r)
    return out
