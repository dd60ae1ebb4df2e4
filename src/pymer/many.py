"""Many responses, one design: ``lmer_many`` fits the same mixed model to every column
of a response matrix (variancePartition's ``dream`` use), sharing the design.

The model (formula, X, Z, the random-effects terms, Z'Z and the symbolic
factorization) is built once per pattern of missing responses; each response then
needs only its own cross-products Z'r, X'r, r'r (r: the response residualized on X,
as :func:`pymer.validate.residualize_response` does, for all responses of a pattern
at once) and its own theta optimization. With a Dask client (or a ``dask.array`` of
responses) blocks of responses go to the workers; each worker builds the shared
model once per block. Dask is imported only then.
"""
from __future__ import annotations

from typing import Any
from numpy.typing import ArrayLike
import warnings
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse

from .call import ModelCall
from .errors import FormulaError, PymerDataError
from .formula import _is_syntactic, parse_formula
from .lmm import LinearMixedModel, lmer
from .optimize import OptResult
from .results import LMMResult
from .report.tidy import tidy as _tidy_one
from .validate import check_control, residualize_response

__all__ = ["lmer_many", "ManyFits"]

_EPS = np.finfo(float).eps


def _quote(name: str) -> str:
    return name if _is_syntactic(name) else f"`{name}`"


def _vc_labels(re) -> list:
    """(group, term) labels of sd_cor's entries, broom.mixed's term names, plus the residual."""
    labels, seen = [], {}
    for t in re.terms:
        k = seen.get(t.group, -1) + 1
        seen[t.group] = k
        g = t.group if k == 0 else f"{t.group}.{k}"
        for c in range(t.k):
            for r in range(c, t.k):
                labels.append((g, f"sd__{t.colnames[r]}" if r == c
                               else f"cor__{t.colnames[c]}.{t.colnames[r]}"))
    return labels + [("Residual", "sd__Observation")]


def _pattern_model(rhs, data, y, name, REML, cls=LinearMixedModel):
    """The shared model of the responses with y's missing-value pattern (built from y)."""
    frame = data.assign(**{name: y})
    mf = parse_formula(f"{_quote(name)} ~ {rhs}", frame)
    return cls(mf, REML=REML)


class _SharedModel(LinearMixedModel):
    """The model of one pattern, its response swapped in per fit; the starting values of
    all responses are computed together (:func:`_start_block`)."""

    start = None

    def start_theta(self):
        return self.start if self.start is not None else LinearMixedModel.start_theta(self)


def _start_block(model, R):
    """LinearMixedModel.start_theta for every column of R at once: the moment start when
    every term is a scalar random intercept (else None: each fit uses its own)."""
    terms = model.re.terms
    if not terms or any(t.k != 1 or not np.all(t.X[:, 0] == 1.0) for t in terms):
        return None
    stats = []
    for t in terms:
        cnt = np.bincount(t.codes, minlength=t.nlev).astype(float)
        G = scipy.sparse.csr_matrix((np.ones(t.codes.size), (t.codes, np.arange(t.codes.size))),
                                    shape=(t.nlev, t.codes.size))
        mean = np.asarray(G @ R) / np.maximum(cnt, 1.0)[:, None]
        within = np.sum((R - mean[t.codes]) ** 2, axis=0) / max(R.shape[0] - t.nlev, 1)
        stats.append((cnt, mean, within))
    s2 = np.min([w for _, _, w in stats], axis=0)
    with np.errstate(all="ignore"):
        tau2 = np.array([np.maximum(c @ m ** 2 / c.sum() - s2 / np.mean(c[c > 0]), 0.0)
                         for c, m, _ in stats])
        theta = np.clip(np.sqrt(tau2 / s2), 0.01, 100.0)
    ok = np.isfinite(s2) & (s2 > 0) & np.all(np.isfinite(theta), axis=0)
    return [(theta[:, j], np.full(len(terms), 0.25)) if ok[j] else (model.re.theta_start(), None)
            for j in range(R.shape[1])]


def _residualize_block(model, Y, names):
    """Residualize every column of Y (rows of the model) on X at once: Y = X B0 + R,
    Householder QR of X and one step of refinement, as residualize_response does per
    column. Columns that are constant or fitted exactly get residualize_response's error."""
    X = model.X
    if X.shape[1] == 0:
        B0, R = np.zeros((0, Y.shape[1])), Y.copy()
    else:
        Q, Rx = np.linalg.qr(X)
        solve = lambda V: scipy.linalg.solve_triangular(Rx, Q.T @ V)   # noqa: E731
        B0 = solve(Y)
        R = Y - X @ B0
        B0 = B0 + solve(R)
        R = Y - X @ B0
    with np.errstate(over="ignore"):
        rr = np.einsum("ij,ij->j", R, R)
        yy = np.einsum("ij,ij->j", Y, Y)
    bad = ~np.isfinite(rr) | (np.sqrt(rr) <= 1e3 * _EPS * np.sqrt(yy))
    rmax = np.max(np.abs(R), axis=0) if R.shape[0] else np.zeros(R.shape[1])
    bad |= (rmax > 0) & (rmax < 1e-150)
    for j in np.flatnonzero(bad):
        residualize_response(X, Y[:, j], name=names[j])       # raises the response's error
    return R, B0


def _fit_pattern(model, Y, names, control):
    """Fit every column of Y (the model's rows) with the model's shared predictor."""
    R, B0 = _residualize_block(model, Y, names)
    n = model.n
    ones = np.ones(n)
    ztz, ZtX, XtX = model.crossprods(np.zeros(n), ones)       # the response-free blocks
    ZtR = np.asarray(model.re.Z().T @ R)
    XtR = model.X.T @ R
    rtr = np.einsum("ij,ij->j", R, R)
    p = model.p
    ZtXy = ZtX.copy()
    XytXy = XtX.copy()
    labels = _vc_labels(model.re)
    starts = _start_block(model, R)
    out = []
    for j, name in enumerate(names):
        model.start = None if starts is None else starts[j]
        ZtXy[:, p] = ZtR[:, j]
        XytXy[:p, p] = XtR[:, j]
        XytXy[p, :p] = XtR[:, j]
        XytXy[p, p] = rtr[j]
        model.core.set_crossprods(ztz, ZtXy, XytXy)
        model.core.beta0 = B0[:, j]
        model.resid0 = R[:, j]
        model.y = Y[:, j]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(control=control)
        se = np.sqrt(np.diag(res._vcov_matrix()))
        out.append({
            "response": name, "objective": res.objective, "converged": not res.messages,
            "singular": res.is_singular, "messages": list(res.messages), "nobs": n,
            "theta": dict(zip(res.theta_names, res.theta)), "theta_values": res.theta.copy(),
            "fixef": dict(zip(res.fixef_names, res.beta)),
            "se": dict(zip(res.fixef_names, se)), "sigma": res.sigma,
            "varcorr": dict(zip(labels, np.r_[model.re.sd_cor(res.theta, res.sigma), res.sigma])),
            "opt": (int(res.opt.nevals), int(res.opt.status), res.opt.optimizer),
        })
    return out


def fit_block(design: tuple, Y: ArrayLike, names: list[str]) -> list[dict]:
    """Fit a block of responses (columns of Y, all rows of the data) on one process.

    `design` is ``(formula_rhs, data, REML, control)``; the shared model is built once
    per pattern of missing values in the block. Returns one record (dict) per response.
    """
    rhs, data, REML, control = design
    Y = np.asarray(Y, dtype=np.float64)
    names = list(names)
    patterns: dict = {}
    for j in range(Y.shape[1]):
        patterns.setdefault(np.isnan(Y[:, j]).tobytes(), []).append(j)
    records = [None] * Y.shape[1]
    for js in patterns.values():
        model = _pattern_model(rhs, data, Y[:, js[0]], names[js[0]], REML, _SharedModel)
        rows = model.mf.rows
        recs = _fit_pattern(model, Y[np.ix_(rows, js)], [names[j] for j in js], control)
        for j, rec in zip(js, recs):
            records[j] = rec
    return records


# =============================================================================
# lmer_many
# =============================================================================


def _is_dask_array(x) -> bool:
    return type(x).__module__.startswith("dask.array") and hasattr(x, "to_delayed")


def _check_rhs(formula_rhs) -> str:
    if not isinstance(formula_rhs, str):
        raise FormulaError(f"formula_rhs must be a string such as '~ x + (1 | g)', "
                           f"not {type(formula_rhs).__name__}")
    rhs = formula_rhs.strip()
    if not rhs.startswith("~"):
        raise FormulaError(f"formula_rhs {formula_rhs!r} must start with '~' (the responses "
                           "are the columns of `responses`)")
    rhs = rhs[1:].strip()
    if "~" in rhs:
        raise FormulaError(f"formula_rhs {formula_rhs!r} has more than one '~'")
    if not rhs:
        raise FormulaError(f"formula_rhs {formula_rhs!r} has no terms")
    return rhs


def _response_matrix(responses, n):
    """(values as float64 (n, R) or a dask array, names) with the culprit named on bad input."""
    if _is_dask_array(responses):
        if responses.ndim != 2:
            raise PymerDataError(f"responses must be 2-dimensional (observations x responses), "
                                 f"not of shape {responses.shape}")
        if responses.shape[0] != n:
            raise PymerDataError(f"responses have {responses.shape[0]} rows; the data have {n}")
        if not np.issubdtype(responses.dtype, np.number) or np.issubdtype(responses.dtype, np.complexfloating):
            raise PymerDataError(f"responses must be real numbers, not {responses.dtype}")
        return responses, [f"V{j + 1}" for j in range(responses.shape[1])]
    if isinstance(responses, pd.Series):
        responses = responses.to_frame()
    if isinstance(responses, pd.DataFrame):
        names = [str(c) for c in responses.columns]
        if len(set(names)) != len(names):
            dup = sorted({c for c in names if names.count(c) > 1})
            raise PymerDataError(f"response names must be unique; repeated: {dup[:5]}")
        for c in responses.columns:
            s = responses[c]
            if (not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)
                    or pd.api.types.is_complex_dtype(s.dtype)):
                raise PymerDataError(f"response column '{c}' is not numeric ({s.dtype})")
        Y = responses.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            Y = np.array(responses, dtype=np.float64)
        except (TypeError, ValueError):
            raise PymerDataError("responses must be numeric: a DataFrame, a 2-D array or a "
                                 "dask array of numbers") from None
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim != 2:
            raise PymerDataError(f"responses must be 2-dimensional (observations x responses), "
                                 f"not of shape {Y.shape}")
        names = [f"V{j + 1}" for j in range(Y.shape[1])]
    if Y.shape[0] != n:
        raise PymerDataError(f"responses have {Y.shape[0]} rows; the data have {n}")
    if Y.shape[1] == 0:
        raise PymerDataError("responses have no columns")
    inf = np.isinf(Y).any(axis=0)
    if inf.any():
        shown = ", ".join(f"'{names[j]}'" for j in np.flatnonzero(inf)[:5])
        raise PymerDataError(f"response(s) {shown} have infinite values; remove or fix them")
    return Y, names


def _blocks(R: int, nblocks: int):
    edges = np.linspace(0, R, max(1, min(nblocks, R)) + 1).astype(int)
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def lmer_many(formula_rhs: str, responses: Any, data: pd.DataFrame, REML: bool = True,
              ddf: str | None = None, client: Any = None, *,
              control: dict | None = None, blocks_per_worker: int = 4) -> "ManyFits":
    """Fit one linear mixed model to many responses sharing a design (dream's loop, at once).

    Parameters
    ----------
    formula_rhs : str
        The right side of the model, e.g. ``"~ x + (1 | ind) + (1 | batch)"``.
    responses : DataFrame, 2-D array or dask.array
        One column per response, one row per row of `data`. Missing values are
        allowed: each response is fitted on its own complete rows.
    data : pandas.DataFrame
        The covariates (never modified).
    REML : bool, default True
    ddf : {None, "Satterthwaite", "Kenward-Roger"}, optional
        The default ``ddf`` of :meth:`ManyFits.tidy`.
    client : dask.distributed.Client, optional
        Spread blocks of responses over its workers. A dask array of responses is
        computed block by block on its chunks (on the current client, if any).
    control : dict, optional
        As :func:`pymer.lmer`'s ``control``.
    blocks_per_worker : int, default 4
        With a client: blocks of responses per worker.

    Returns
    -------
    ManyFits
        Every response's estimates equal ``pymer.lmer`` on that response alone.
    """
    if not isinstance(REML, (bool, np.bool_, int, np.integer)):
        raise TypeError(f"REML must be True or False, not {REML!r}")
    rhs = _check_rhs(formula_rhs)
    control = check_control(control, fun="lmer")
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    Y, names = _response_matrix(responses, len(data))
    clash = [nm for nm in names if nm in {str(c) for c in data.columns}]
    if clash:
        raise PymerDataError(f"response name(s) {clash[:5]} are also columns of the covariate data; "
                             "rename them")
    # the formula and data are checked before any response is fitted (or shipped)
    parse_formula(f"{_quote(names[0])} ~ {rhs}", data.assign(**{names[0]: 0.0}))
    design = (rhs, data, bool(REML), control)
    if _is_dask_array(Y):
        records = _fit_dask_array(design, Y, names, client)
    elif client is not None:
        nworkers = max(1, len(client.scheduler_info().get("workers", {})))
        spans = _blocks(Y.shape[1], nworkers * int(blocks_per_worker))
        shared = client.scatter(design, broadcast=True)
        futures = [client.submit(fit_block, shared, Y[:, a:b], names[a:b], pure=False)
                   for a, b in spans]
        records = [r for part in client.gather(futures) for r in part]
    else:
        records = fit_block(design, Y, names)
    return ManyFits(records, rhs, Y, names, data, bool(REML), ddf, control)


def _fit_dask_array(design, Y, names, client):
    import dask

    Y = Y.rechunk({0: -1})
    starts = np.r_[0, np.cumsum(Y.chunks[1])]
    tasks = [dask.delayed(fit_block)(design, blk, names[starts[i]:starts[i + 1]])
             for i, blk in enumerate(Y.to_delayed()[0])]
    parts = client.compute(tasks, sync=True) if client is not None else dask.compute(*tasks)
    return [r for part in parts for r in part]


# =============================================================================
# ManyFits
# =============================================================================


class ManyFits:
    """Fits of one model to many responses (:func:`lmer_many`).

    Attributes (one entry or row per response): ``objective``, ``converged``,
    ``singular``, ``nobs``, ``sigma`` (Series); ``fixef``, ``std_error``, ``theta``, ``varcorr``
    (DataFrames; ``varcorr`` has columns (group, term) with broom.mixed's term names).
    ``fit(k)`` gives one response's full LMMResult; ``tidy()`` a long table.
    """

    def __init__(self, records: list[dict], rhs: str, Y: Any, names: list[str], data: pd.DataFrame,
                 REML: bool, ddf: str | None, control: dict | None) -> None:
        self._records = records
        self.formula_rhs = "~ " + rhs
        self._Y = Y
        self.names = pd.Index(names, name="response")
        self._data = data
        self.REML = REML
        self.ddf = ddf
        self._control = control

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return (f"<ManyFits: {len(self)} responses ~ {self.formula_rhs[2:]}, "
                f"{'REML' if self.REML else 'ML'}, {int(self.converged.sum())} converged, "
                f"{int(self.singular.sum())} singular>")

    def _series(self, key, name):
        return pd.Series([r[key] for r in self._records], index=self.names, name=name)

    def _frame(self, key):
        return pd.DataFrame([r[key] for r in self._records], index=self.names)

    @cached_property
    def objective(self) -> pd.Series:
        """REML criterion (REML fits) or deviance per response."""
        return self._series("objective", "objective")

    @cached_property
    def converged(self) -> pd.Series:
        """True where the fit left no convergence message."""
        return self._series("converged", "converged")

    @cached_property
    def singular(self) -> pd.Series:
        return self._series("singular", "singular")

    @cached_property
    def messages(self) -> pd.Series:
        return self._series("messages", "messages")

    @cached_property
    def nobs(self) -> pd.Series:
        return self._series("nobs", "nobs")

    @cached_property
    def sigma(self) -> pd.Series:
        return self._series("sigma", "sigma")

    @cached_property
    def fixef(self) -> pd.DataFrame:
        return self._frame("fixef")

    @cached_property
    def std_error(self) -> pd.DataFrame:
        """Standard errors of the fixed effects (sqrt of vcov's diagonal), one row per response."""
        return self._frame("se")

    @cached_property
    def theta(self) -> pd.DataFrame:
        return self._frame("theta")

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Standard deviations and correlations: columns (group, term), one row per response."""
        df = self._frame("varcorr")
        df.columns = pd.MultiIndex.from_tuples(df.columns, names=["group", "term"])
        return df

    def _position(self, k) -> int:
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            if not -len(self) <= k < len(self):
                raise IndexError(f"response {k} out of range ({len(self)} responses)")
            return int(k) % len(self)
        if k in self.names:
            return int(self.names.get_loc(k))
        raise KeyError(f"no response named {k!r}")

    def _column(self, j) -> np.ndarray:
        y = self._Y[:, j]
        return np.asarray(y.compute() if hasattr(y, "compute") else y, dtype=np.float64)

    def fit(self, k: int | str) -> LMMResult:
        """One response's fit as a full :class:`pymer.LMMResult` (no refit: at its theta).

        Parameters
        ----------
        k : int or str
            Position or name of the response.
        """
        j = self._position(k)
        rec = self._records[j]
        name = rec["response"]
        frame = self._data.assign(**{name: self._column(j)})
        model = _pattern_model(self.formula_rhs[2:], self._data, self._column(j), name, self.REML)
        model.call = ModelCall(lmer, f"{_quote(name)} ~ {self.formula_rhs[2:]}", frame,
                               {"REML": self.REML})
        theta = rec["theta_values"]
        nev, status, optimizer = rec["opt"]
        opt = OptResult(theta, rec["objective"], nev, optimizer, status, [])
        return LMMResult(model, theta, opt, rec["messages"])

    def tidy(self, effects: str | tuple[str, ...] | list[str] = ("fixed", "ran_pars"), ddf: str | None = "default",
             conf_int: bool = False, conf_level: float = 0.95, responses: list | None = None) -> pd.DataFrame:
        """One long table (broom.mixed's columns with ``response`` first) for every response.

        ``ddf="Satterthwaite"`` adds lmerTest's per-response t tests (dream's), from
        :func:`pymer.tidy.tidy` on each response's :meth:`fit`. ``ddf`` defaults to
        the one given to :func:`lmer_many`; ``responses`` selects some (names or positions).
        """
        ddf = self.ddf if ddf == "default" else ddf
        which = range(len(self)) if responses is None else [self._position(k) for k in responses]
        parts = []
        for j in which:
            t = _tidy_one(self.fit(j), effects=effects, conf_int=conf_int, conf_level=conf_level,
                          ddf=ddf)
            t.insert(0, "response", self.names[j])
            parts.append(t)
        return pd.concat(parts, ignore_index=True)
