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
from .terms import lower_tri_pairs
from ._core._optim import START_NOT_FINITE, raise_for_status
from .lmm import LinearMixedModel, lmer
from .optimize import OptResult, check_convergence_many, optimizer_key, status_messages
from .results import LMMResult
from .report.tidy import tidy as _tidy_one
from .validate import check_control, filter_conv_messages, residualize_response, warn_singular

__all__ = ["lmer_many", "ManyFits"]

_EPS = np.finfo(float).eps


def _quote(name: str) -> str:
    return name if _is_syntactic(name) else f"`{name}`"


def _vc_labels(re) -> list:
    """(group, term) labels of sd_cor's entries, broom.mixed's term names, plus the residual."""
    labels: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
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
    """Fit every column of Y (the model's rows) with the model's shared predictor.

    With BOBYQA or Nelder-Mead every response's fit (optimizer, boundary handling,
    derivatives, the estimates at the optimum) runs in one compiled loop
    (:meth:`pymer._core._optim.LmmObjective.fit_responses`); Python then reads lme4's
    convergence checks and builds the tables for all responses at once. Other
    optimizers fit each response with ``LinearMixedModel.fit``.
    Returns a block (:func:`_block`) of the responses, in their order.
    """
    R, B0 = _residualize_block(model, Y, names)
    n = model.n
    ones = np.ones(n)
    ztz, ZtX, XtX = model.crossprods(np.zeros(n), ones)       # the response-free blocks
    ZtR = np.asarray(model.re.Z().T @ R)
    XtR = model.X.T @ R
    rtr = np.einsum("ij,ij->j", R, R)
    model.core.set_crossprods(ztz, ZtX, XtX)
    starts = _start_block(model, R)
    ctl = check_control(control, fun="lmer")
    lower = model.re.lower_bounds()
    obj = model._compiled_objective(ctl["optimizer"], ctl, lower)
    if obj is None:
        return _fit_pattern_each(model, Y, names, control, R, B0, ZtR, XtR, rtr, starts)
    m = lower.size
    if starts is None:
        X0 = np.tile(model.re.theta_start(), (len(names), 1))
        S0 = np.full((len(names), m), np.nan)
    else:
        X0 = np.array([th for th, _ in starts], dtype=np.float64).reshape(len(names), m)
        none = np.full(m, np.nan)
        S0 = np.array([none if st is None else st for _, st in starts], dtype=np.float64).reshape(len(names), m)
    derivs = bool(ctl["check_conv"] and ctl["calc_derivs"])
    out = obj.fit_responses(ZtR, XtR, rtr, X0, S0, boundary_tol=ctl["boundary_tol"],
                            restart_edge=ctl["restart_edge"], calc_derivs=derivs)
    for j in np.flatnonzero(out["code"] != 0):
        if out["code"][j] == START_NOT_FINITE:
            raise PymerDataError(f"response '{names[j]}': {model._start_error()}")
        raise_for_status(int(out["code"][j]))
    theta = out["theta"]
    conv = (check_convergence_many(theta, lower, out["grad"], out["hess"], tol_grad=ctl["check_conv_grad"]["tol"],
                                   tol_hess=ctl["check_conv_hess"]["tol"])
            if derivs else [[]] * len(names))
    messages = [status_messages(int(st), ctl["maxeval"]) + filter_conv_messages(c, ctl)
                for st, c in zip(out["status"], conv)]
    sing = ctl.get("check_conv_singular", {"action": "message", "tol": 1e-4})
    if ctl["check_conv"] and sing["action"] == "stop":
        for j in range(len(names)):
            warn_singular(model.re, theta[j], ctl)        # raises on the first singular fit
    sigma = np.sqrt(out["pwrss"] / (n - model.p if model.REML else n))
    beta = out["beta"] + B0.T
    RX = out["RX"]
    if model.p:
        Rinv = np.linalg.inv(RX)
        se = sigma[:, None] * np.sqrt(np.einsum("rij,rij->ri", Rinv, Rinv))
    else:
        se = np.zeros((len(names), 0))
    opt = [(int(k), int(st), optimizer_key(ctl["optimizer"])) for k, st in zip(out["nevals"], out["status"])]
    return _block(model, names, out["objective"], messages, theta, beta, se, sigma, opt)


def _fit_pattern_each(model, Y, names, control, R, B0, ZtR, XtR, rtr, starts):
    """_fit_pattern's per-response path (optimizers without a compiled loop)."""
    p = model.p
    ZtXy = np.asarray(model.core.ZtXy).copy()
    XytXy = np.asarray(model.core.XytXy).copy()
    ztz = np.asarray(model.core.ztz).copy()
    fits = []
    for j in range(len(names)):
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
            fits.append(model.fit(control=control))
    se = np.array([np.sqrt(np.diag(r._vcov_matrix())) for r in fits]).reshape(len(fits), p)
    return _block(model, names, np.array([r.objective for r in fits]), [list(r.messages) for r in fits],
                  np.array([r.theta for r in fits]), np.array([r.beta for r in fits]).reshape(len(fits), p),
                  se, np.array([r.sigma for r in fits]),
                  [(int(r.opt.nevals), int(r.opt.status), r.opt.optimizer) for r in fits])


def _block(model, names, objective, messages, theta, beta, se, sigma, opt):
    """The tables of some responses' fits, one row per response (see ManyFits)."""
    idx = pd.Index(names, name="response")
    re = model.re
    lower = re.lower_bounds()
    vc = np.column_stack([_sd_cor_rows(re, theta, sigma), sigma])
    return {
        "objective": np.asarray(objective, dtype=np.float64),
        "converged": np.array([not msg for msg in messages], dtype=bool),
        "singular": np.any(theta[:, lower == 0] < 1e-4, axis=1),   # lme4's isSingular(tol = 1e-4)
        "messages": list(messages), "nobs": np.full(len(names), model.n),
        "sigma": np.asarray(sigma, dtype=np.float64),
        "theta": pd.DataFrame(theta, index=idx, columns=re.theta_names()),
        "fixef": pd.DataFrame(beta, index=idx, columns=model.fixef_names),
        "se": pd.DataFrame(se, index=idx, columns=model.fixef_names),
        "varcorr": pd.DataFrame(vc, index=idx, columns=pd.MultiIndex.from_tuples(
            _vc_labels(re), names=["group", "term"])),
        "opt": list(opt),
    }


def _sd_cor_rows(re, theta, sigma):
    """RandomEffects.sd_cor for every row of theta (R, m) and sigma (R,) at once:
    S = sigma^2 T T' per term, sd on its diagonal, correlations below it (NaN at a zero sd)."""
    theta = np.asarray(theta, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    cols = []
    for t, o in zip(re.terms, re.theta_offsets):
        pairs = lower_tri_pairs(t.k)
        T = np.zeros((theta.shape[0], t.k, t.k))
        for i, (r, c) in enumerate(pairs):
            T[:, r, c] = theta[:, o + i]
        S = (sigma ** 2)[:, None, None] * T @ np.swapaxes(T, 1, 2)
        sd = np.sqrt(np.einsum("rii->ri", S))
        for r, c in pairs:
            if r == c:
                cols.append(sd[:, r])
            else:
                with np.errstate(all="ignore"):
                    cols.append(np.where((sd[:, r] > 0) & (sd[:, c] > 0), S[:, r, c] / (sd[:, r] * sd[:, c]), np.nan))
    return np.column_stack(cols) if cols else np.zeros((theta.shape[0], 0))


def _concat_blocks(blocks, order=None):
    """Blocks of responses as one (rows in `order`: positions into the concatenation)."""
    if len(blocks) == 1 and order is None:
        return blocks[0]
    out = {}
    for key, first in blocks[0].items():
        if isinstance(first, pd.DataFrame):
            v = pd.concat([b[key] for b in blocks])
            out[key] = v if order is None else v.iloc[order]
        elif isinstance(first, list):
            v = [x for b in blocks for x in b[key]]
            out[key] = v if order is None else [v[i] for i in order]
        else:
            v = np.concatenate([b[key] for b in blocks])
            out[key] = v if order is None else v[order]
    return out


def fit_block(design: tuple, Y: ArrayLike, names: list[str]) -> list[dict]:
    """Fit a block of responses (columns of Y, all rows of the data) on one process.

    `design` is ``(formula_rhs, data, REML, control)``; the shared model is built once
    per pattern of missing values in the block. Returns the block's tables (a dict:
    arrays, lists and DataFrames with one row per response, in the block's order).
    """
    rhs, data, REML, control = design
    Y = np.asarray(Y, dtype=np.float64)
    names = list(names)
    patterns: dict = {}
    for j in range(Y.shape[1]):
        patterns.setdefault(np.isnan(Y[:, j]).tobytes(), []).append(j)
    blocks, positions = [], []
    for js in patterns.values():
        model = _pattern_model(rhs, data, Y[:, js[0]], names[js[0]], REML, _SharedModel)
        rows = model.mf.rows
        blocks.append(_fit_pattern(model, Y[np.ix_(rows, js)], [names[j] for j in js], control))
        positions.extend(js)
    return _concat_blocks(blocks, None if len(blocks) == 1 else np.argsort(positions))


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
        table = _fit_dask_array(design, Y, names, client)
    elif client is not None:
        nworkers = max(1, len(client.scheduler_info().get("workers", {})))
        spans = _blocks(Y.shape[1], nworkers * int(blocks_per_worker))
        shared = client.scatter(design, broadcast=True)
        futures = [client.submit(fit_block, shared, Y[:, a:b], names[a:b], pure=False)
                   for a, b in spans]
        table = _concat_blocks(client.gather(futures))
    else:
        table = fit_block(design, Y, names)
    return ManyFits(table, rhs, Y, names, data, bool(REML), ddf, control)


def _fit_dask_array(design, Y, names, client):
    import dask

    Y = Y.rechunk({0: -1})
    starts = np.r_[0, np.cumsum(Y.chunks[1])]
    tasks = [dask.delayed(fit_block)(design, blk, names[starts[i]:starts[i + 1]])
             for i, blk in enumerate(Y.to_delayed()[0])]
    parts = client.compute(tasks, sync=True) if client is not None else dask.compute(*tasks)
    return _concat_blocks(list(parts))


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

    def __init__(self, table: dict, rhs: str, Y: Any, names: list[str], data: pd.DataFrame,
                 REML: bool, ddf: str | None, control: dict | None) -> None:
        self._table = table
        self.formula_rhs = "~ " + rhs
        self._Y = Y
        self.names = pd.Index(names, name="response")
        self._data = data
        self.REML = REML
        self.ddf = ddf
        self._control = control

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (f"<ManyFits: {len(self)} responses ~ {self.formula_rhs[2:]}, "
                f"{'REML' if self.REML else 'ML'}, {int(self.converged.sum())} converged, "
                f"{int(self.singular.sum())} singular>")

    def _series(self, key, name):
        v = self._table[key]
        return pd.Series(v if isinstance(v, np.ndarray) else list(v), index=self.names, name=name)

    def _frame(self, key):
        df = self._table[key].copy()
        df.index = self.names
        return df

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
        return self._frame("varcorr")

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
        name = self.names[j]
        frame = self._data.assign(**{name: self._column(j)})
        model = _pattern_model(self.formula_rhs[2:], self._data, self._column(j), name, self.REML)
        model.call = ModelCall(lmer, f"{_quote(name)} ~ {self.formula_rhs[2:]}", frame,
                               {"REML": self.REML})
        theta = self._table["theta"].iloc[j].to_numpy(dtype=np.float64)
        nev, status, optimizer = self._table["opt"][j]
        opt = OptResult(theta, float(self._table["objective"][j]), nev, optimizer, status, [])
        return LMMResult(model, theta, opt, self._table["messages"][j])

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
