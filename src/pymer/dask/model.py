"""Linear mixed models of a Dask DataFrame: three passes over the partitions, then the
in-memory fit on the reduced cross-products.

1. the template (distinct factor combinations, see :mod:`pymer.dask.design`), row counts,
   and the global centre and scale of each ``scale()`` term (one more pass for the scale);
2. the normal equations X'WX, X'W(y - offset): the global least-squares fit beta0 that
   residualizes y (as :func:`pymer.validate.residualize_response` does in memory);
3. each partition's [Z X r]'W[Z X r] on the global pattern of Z'Z (pymer's compiled
   ``crossprod_ztwz``), summed by a tree reduction, then one step of refinement of beta0
   applied to the sums.

The theta optimization, the convergence checks, Satterthwaite df, profiles and anova
then run on :class:`DaskLinearMixedModel`, a LinearMixedModel whose core is built from
those sums; fitted values, residuals and predictions stay lazy Dask Series.
"""
from __future__ import annotations

from typing import Any
from numpy.typing import ArrayLike
import copy
import functools
import uuid
import warnings
from types import SimpleNamespace

import dask
import numpy as np
import pandas as pd

from ..call import ModelCall
from .._core._blas_threads import single_threaded
from ..errors import warn
from ..lmm import LinearMixedModel, _PLS
from ..results import LMMResult
from ..validate import (LMER_CONTROL, RankDeficiencyWarning, check_control, check_grouping_factors,
                        check_response_numeric, drop_aliased_columns, residualize_response)
from ..formula.syntax import _Name, _Paren
from .poly import poly_calls, poly_rows, poly_state
from .splines import spline_calls, spline_rows, spline_state, template_rows
from .design import (Design, RFactor, add, check_column_types, combine_templates, complete_rows,
                     factor_like_columns, scale_calls, scale_centers, scale_state, scale_sums,
                     template_chunk, used_columns)

__all__ = ["lmer", "DaskLinearMixedModel", "DaskLMMResult", "is_dask_dataframe"]


EXACT_QUANTILE_ROWS = 1_000_000


def is_dask_dataframe(data: Any) -> bool:
    return type(data).__module__.startswith("dask.dataframe") and hasattr(data, "to_delayed")


def _sum_all(*parts):
    return functools.reduce(add, parts)


def _tree(items, split_every=8):
    """Tree reduction of delayed partition results."""
    while len(items) > 1:
        items = [dask.delayed(_sum_all)(*items[i:i + split_every])
                 for i in range(0, len(items), split_every)]
    return items[0]


def _row_counts(part, used):
    return len(part), len(complete_rows(part, used))


def _gram_root(G):
    """A p x p matrix S with S'S = G (symmetric square root): X's stand-in wherever only
    X'X matters (aliasing, anova types I and II)."""
    ev, V = np.linalg.eigh(G)
    return (V * np.sqrt(np.clip(ev, 0.0, None))) @ V.T


class DaskLinearMixedModel(LinearMixedModel):
    """A LinearMixedModel built from cross-products reduced over Dask partitions.

    ``X`` is a p x p stand-in with X'X of the data; ``re`` holds the global levels;
    no per-row array is kept.
    """

    # the rows stay on the workers: no response or offset vector here (None)
    y: Any
    offset: Any

    def __init__(self, design: Any, reduced: Any, REML: bool, data: Any, weights_column: str | None) -> None:
        self.design = design
        self.mf = design.mf
        self.REML = bool(REML)
        self.data = data
        self.weights_column = weights_column
        self.n = reduced["n"]
        self.nobs_dropped = reduced["ndropped"]
        self.fixef_names = [design.mf.fixef_names[i] for i in design.keep]
        self.dropped_fixef = reduced["dropped"]
        self.X = reduced["X_standin"]
        self.p = self.X.shape[1]
        self.re = design.re
        self.y = None
        self.offset = None
        # weights live in the cross-products (and log_w); no row vector exists
        self.weights = None
        self._reduced = reduced
        check_grouping_factors(self.re, self.n, lmm=True)
        self._build_core()

    def _build_core(self):
        r = self._reduced
        col_term, col_off = self.re.column_structure()
        self.colptr, self.rowind = self.design.colptr, self.design.rowind
        self.core = _PLS(self.colptr, self.rowind, r["ztz"], r["ZtXr"], r["XrtXr"], col_term, col_off,
                         self.re.term_k, self.n)
        self.core.beta0 = r["beta0"]
        self.log_w = r["log_w"]
        # check_residual_scale's root mean square of r, from one stand-in value
        self.resid0 = np.array([np.sqrt(r["XrtXr"][-1, -1] / max(r["npos"], 1))])

    def start_theta(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The in-memory moment start (see LinearMixedModel.start_theta) from the reduced
        cross-products: level counts are Z'Z's diagonal, level sums of r are Z'r."""
        x0 = self.re.theta_start()
        terms = self.re.terms
        if not terms or any(t.k != 1 or not np.all(t.X[:, 0] == 1.0) for t in terms):
            return x0, None
        # over the rows with positive weight, unweighted (as in memory)
        ztz, ZtXr, XrtXr = self._reduced["unweighted"]
        diag = np.zeros(self.re.q)
        for j in range(self.re.q):
            lo, hi = self.colptr[j], self.colptr[j + 1]
            diag[j] = ztz[lo + np.searchsorted(self.rowind[lo:hi], j)]
        rr = XrtXr[-1, -1]
        npos = self._reduced["npos"]
        stats = []
        for t, off in zip(terms, self.re.col_offsets):
            cnt = diag[off:off + t.nlev]
            mean = ZtXr[off:off + t.nlev, -1] / np.maximum(cnt, 1.0)
            within = (rr - np.sum(cnt * mean ** 2)) / max(npos - t.nlev, 1)
            stats.append((cnt, mean, within))
        s2 = min(w for _, _, w in stats)
        if not (np.isfinite(s2) and s2 > 0):
            return x0, None
        tau2 = np.array([max(np.average(m ** 2, weights=np.maximum(c, 0)) - s2 / np.mean(c[c > 0]), 0.0)
                         for c, m, _ in stats])
        theta = np.clip(np.sqrt(tau2 / s2), 0.01, 100.0)
        return (theta, np.full(theta.size, 0.25)) if np.all(np.isfinite(theta)) else (x0, None)

    def fit(self, **kwargs: Any) -> DaskLMMResult:
        res = LinearMixedModel.fit(self, **kwargs)
        return DaskLMMResult(self, res.theta, res.opt, res.messages)


class _Predictor:
    """What a partition needs to compute X beta + Z b + offset for its rows (picklable):
    the in-memory result's own new-data predictor, on a stand-in."""

    _linear_predictor = LMMResult._linear_predictor
    _new_Zb = LMMResult._new_Zb

    def __init__(self, res):
        self.model = SimpleNamespace(mf=res.model.mf)
        self.fixef_names = list(res.fixef_names)
        self.beta = np.asarray(res.beta)
        self.b = np.asarray(res.b)
        self.re = res.re
        self.design = res.model.design
        self.sigma = res.sigma

    def eta(self, part, re_form=None, allow_new_levels=False):
        return pd.Series(self._linear_predictor(part, re_form, allow_new_levels), index=part.index,
                         dtype=np.float64)

    def fitted(self, part):
        return self.eta(complete_rows(part, self.design.used))

    def residuals(self, part, type, scaled):
        part = complete_rows(part, self.design.used)
        if not len(part):
            return pd.Series([], dtype=np.float64)
        _, y, _, w, _ = self.design.rows(part)
        r = y - self.eta(part).to_numpy()
        if type in ("pearson", "deviance") and w is not None:
            r = r * np.sqrt(w)
        if scaled:
            r = r / self.sigma
        return pd.Series(r, index=part.index, dtype=np.float64)


def spanning_rows(design: Design, part: pd.DataFrame) -> pd.DataFrame:
    """At most p complete rows of a partition whose rows of X span X's row space there
    (pivoted QR of X')."""
    from scipy.linalg import qr

    sub = complete_rows(part, design.used)
    if not len(sub) or not design.keep:
        return sub.iloc[:0]
    X = design.rows(sub)[0]
    _, R, piv = qr(X.T, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    r = int(np.sum(d > 1e-10 * d.max())) if d.size and d.max() > 0 else 0
    return sub.iloc[np.sort(piv[:r])]


class DaskLMMResult(LMMResult):
    """An LMMResult of a Dask DataFrame fit: everything from the reduced cross-products;
    ``fitted``, ``residuals()`` and ``predict()`` return lazy Dask Series aligned with the
    partitions of the complete rows."""

    @property
    def _predictor(self):
        return _Predictor(self)

    @property
    def fitted(self) -> Any:
        """Fitted values X beta + Z b + offset of the complete rows: a lazy Dask Series."""
        ddf = self.model.data
        return ddf.map_partitions(self._predictor.fitted, meta=pd.Series([], dtype=np.float64))

    def residuals(self, type: Any = "response", scaled: bool = False) -> Any:
        """Residuals of the complete rows as a lazy Dask Series (types as LMMResult.residuals)."""
        if type not in ("response", "working", "pearson", "deviance"):
            raise ValueError(f"unknown residual type {type!r}; use 'response', 'pearson', 'working' or 'deviance'")
        return self.model.data.map_partitions(self._predictor.residuals, type, scaled,
                                              meta=pd.Series([], dtype=np.float64))

    def predict(self, newdata: Any = None, re_form: Any = None,  # type: ignore[override]
                allow_new_levels: bool = False) -> Any:
        """Predictions as lme4's predict(): a lazy Dask Series for a Dask DataFrame (or for
        the fitted data when newdata is None), a numpy array for an in-memory frame."""
        if newdata is None:
            if re_form is None:
                return self.fitted
            newdata = self.model.data.map_partitions(complete_rows, self.model.design.used)
        if not is_dask_dataframe(newdata):
            return self._linear_predictor(newdata, re_form, allow_new_levels)
        return newdata.map_partitions(self._predictor.eta, re_form, allow_new_levels,
                                      meta=pd.Series([], dtype=np.float64))

    def _residual_quantiles(self):
        # quantiles of the scaled Pearson residuals: exact up to EXACT_QUANTILE_ROWS rows
        # (one float per row reaches the client), Dask's approximate quantiles beyond
        r = self.residuals("pearson", scaled=True)
        if self.nobs <= EXACT_QUANTILE_ROWS:
            return np.quantile(r.compute().to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        return np.sort(r.quantile([0, 0.25, 0.5, 0.75, 1]).compute().to_numpy())

    def anova(self, *others: Any, type: Any = 3, ddf: Any = "Satterthwaite", refit: bool = True,
              names: list[str] | None = None) -> Any:
        """lmerTest's F tests (types I, II and III; Satterthwaite df) or, with other fits,
        likelihood-ratio tests, as LMMResult.anova. Type III maps the sum-to-zero coding
        to the model's on a few rows that span X's row space (at most p per partition,
        gathered from the partitions; the map is exact on any such rows)."""
        if not others:
            if str(type).upper().strip() in ("3", "III"):
                return LMMResult.anova(self._spanning_proxy(), type=type, ddf=ddf)
        return LMMResult.anova(self, *others, type=type, ddf=ddf, refit=refit, names=names)

    def _spanning_proxy(self):
        """This fit, its model's X and data replaced by rows that span X's row space: what
        the type III hypotheses need of the rows (the coding map T with X_sum T = X holds
        row by row, so lstsq on rows where X_sum has full column rank recovers it)."""
        model = self.model
        dd = dask.delayed(model.design, name="pymer-design-" + uuid.uuid4().hex, traverse=False)
        chunks = dask.compute(*[dask.delayed(spanning_rows)(dd, p) for p in model.data.to_delayed()])
        rows = pd.concat([c for c in chunks if len(c)])
        pm = object.__new__(type(model))
        pm.__dict__.update(model.__dict__)
        pm.X = model.design.rows(rows)[0]
        pm.mf = copy.copy(model.mf)
        pm.mf.rows = np.arange(len(rows))
        pm.call = SimpleNamespace(data=rows)
        proxy = LMMResult.__new__(LMMResult)           # (its anova does not dispatch back here)
        proxy.__dict__.update(self.__dict__)
        proxy.model = pm
        return proxy

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> Any:
        raise NotImplementedError("simulate() of a Dask DataFrame fit is not available: it would "
                                  "build n x nsim values in the client")

    def refit(self, newresp: ArrayLike, **kwargs: Any) -> Any:
        raise NotImplementedError("refit() of a Dask DataFrame fit is not available: update the "
                                  "response column of the Dask DataFrame and call update(data=...)")


# =============================================================================
# the passes
# =============================================================================


def template_design(formula: str, data: Any, weights: Any, offset: Any, split_every: int | None, *,
                    design_cls: type[Design] = Design, factor_response: bool = False) -> tuple:
    """The first pass (and scale()'s): the template of the factor-like columns, the row
    counts, the global encoding. Returns (design, rows in the frame, complete rows, data,
    partitions as delayed objects). With `factor_response` a text, categorical or boolean
    response column is read as a factor (its levels from all rows), as glmer's binomial
    family reads it; otherwise such a response is the linear model's error."""
    lhs, used, factor_like = used_columns(formula, data.columns, weights, offset)
    meta = data._meta
    lhs_u = lhs.x if isinstance(lhs, _Paren) else lhs
    if factor_response and isinstance(lhs_u, _Name) and lhs_u.name in meta.columns:
        dt = meta[lhs_u.name].dtype
        if (not pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)) \
                and lhs_u.name not in factor_like:
            factor_like.append(lhs_u.name)
    else:
        check_column_types(meta, lhs, used, factor_like)
    keys = factor_like_columns(meta, used, factor_like)
    unknown = [c for c in used if isinstance(meta[c].dtype, pd.CategoricalDtype)
               and not data[c].cat.known]
    if unknown:
        data = data.assign(**{c: data[c].cat.as_known() for c in unknown})
        meta = data._meta
    categories = {c: meta[c].dtype for c in used if isinstance(meta[c].dtype, pd.CategoricalDtype)}
    parts = data.to_delayed()
    calls = scale_calls(formula)
    pcalls = poly_calls(formula)
    # pass 1: the template, the row counts, and the sums of scale()'s arguments
    chunks = [dask.delayed(template_chunk)(p, used, keys) for p in parts]
    counts = [dask.delayed(_row_counts)(p, used) for p in parts]
    ssum = _tree([dask.delayed(scale_sums)(p, calls) for p in parts], split_every) if calls else ()
    spcalls = spline_calls(formula)
    extra = [dask.delayed(poly_rows)(p, used, pcalls) for p in parts] if pcalls else []
    spread = [dask.delayed(spline_rows)(p, used, spcalls) for p in parts] if spcalls else []
    chunks, counts, ssum, extra, spread = dask.compute(chunks, counts, ssum, extra, spread)
    template = combine_templates(list(chunks), keys, categories)
    extra = list(extra) + (template_rows(len(template), list(spread), spcalls) if spcalls else [])
    if extra:
        # rows of distinct x, so that the template's own poly() basis and spline knots exist
        template = combine_templates([template] + list(extra), [], categories, dedupe=False)
    n_all = sum(c[0] for c in counts)
    n = sum(c[1] for c in counts)
    design = design_cls.from_template(formula, lhs, used, categories, template, weights, offset)
    if calls:
        # scale()'s centres and scales over all rows replace the template's
        centers = scale_centers(calls, ssum)
        sumsq = _tree([dask.delayed(scale_sums)(p, calls, centers) for p in parts], split_every).compute()
        design.mf._spec.state.update(scale_state(calls, ssum, centers, sumsq))
    if pcalls:
        # poly()'s coefficients over all rows replace the template's
        design.mf._spec.state.update(poly_state(parts, pcalls, dict(design.mf._spec.state), split_every))
    if spcalls:
        # the splines' knots over all rows replace the template's
        design.mf._spec.state.update(spline_state(parts, spcalls, dict(design.mf._spec.state), template))
    return design, n_all, n, data, parts


def aliased_columns(design: Design, R: RFactor) -> list[str]:
    """The fixed-effects columns kept (aliased ones dropped by the in-memory rule, judged
    on R of the rows with positive weight: the same residual norms as on those rows of X),
    with the in-memory RankDeficiencyWarning; sets ``design.keep``. Returns the dropped names."""
    names = design.mf.fixef_names
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RankDeficiencyWarning)
        keep, dropped = drop_aliased_columns(R.R, names)
    for w in caught:
        warn(str(w.message), w.category)
    design.keep = keep
    return dropped


def _reduce_design(formula, data, weights, offset, split_every):
    design, n_all, n, data, parts = template_design(formula, data, weights, offset, split_every)
    check_response_numeric(design.mf)
    if n == 0:
        raise ValueError("no complete rows")  # pragma: no cover  (the template raises first)
    dd = dask.delayed(design, name="pymer-design-" + uuid.uuid4().hex, traverse=False)
    # pass 2: normal equations on all fixed-effects columns; aliased columns dropped on X'WX
    ne = _tree([dask.delayed(Design.normal_equations)(dd, p) for p in parts], split_every)
    _, XtWX, XtWy, log_w, npos, XtX, yWy, yrange, R = ne.compute()
    dropped = aliased_columns(design, R)
    k = np.asarray(design.keep, dtype=int)
    G = XtWX[np.ix_(k, k)]
    beta0 = np.linalg.solve(G, XtWy[k]) if k.size else np.zeros(0)
    # pass 3: [Z X r]'W[Z X r] with r = y - offset - X beta0
    sums = _tree([dask.delayed(Design.crossproducts)(dd, p, beta0) for p in parts], split_every).compute()
    ztz, ZtXr, XrtXr = sums[:3]
    unweighted = sums[3:] if weights is not None else sums
    p = k.size
    if p:
        # one step of refinement (beta0 += G^-1 X'Wr), applied to the sums
        delta = np.linalg.solve(XrtXr[:p, :p], XrtXr[:p, p])
        beta0 = beta0 + delta
        ZtXr, XrtXr = _refine(ZtXr, XrtXr, delta)
        unweighted = (unweighted[0],) + _refine(unweighted[1], unweighted[2], delta)
    _check_residual(XrtXr[p, p], yWy, yrange.lo, yrange.hi, design.mf.response_name)
    reduced = {"n": n, "ndropped": n_all - n, "dropped": dropped,
               "X_standin": _gram_root(XtX[np.ix_(k, k)]) if p else np.zeros((0, 0)),
               "ztz": ztz, "ZtXr": ZtXr, "XrtXr": XrtXr, "beta0": beta0, "log_w": log_w,
               "npos": npos, "unweighted": unweighted}
    return design, reduced, data


def _refine(ZtXr, XrtXr, delta):
    """The cross-products of r - X delta from those of r."""
    p = delta.size
    ZtXr, XrtXr = ZtXr.copy(), XrtXr.copy()
    Xtr = XrtXr[:p, p] - XrtXr[:p, :p] @ delta
    rr = XrtXr[p, p] - 2 * delta @ XrtXr[:p, p] + delta @ XrtXr[:p, :p] @ delta
    ZtXr[:, p] -= ZtXr[:, :p] @ delta
    XrtXr[:p, p] = Xtr
    XrtXr[p, :p] = Xtr
    XrtXr[p, p] = rr
    return ZtXr, XrtXr


def _check_residual(rr, yy, ymin, ymax, name):
    """residualize_response's errors (constant response, exact fit), from sums: its own
    messages, raised on a two-row stand-in that has the same defect."""
    if not (np.sqrt(max(rr, 0.0)) <= 1e3 * np.finfo(float).eps * np.sqrt(yy)):
        return
    if ymin == ymax:
        residualize_response(np.ones((2, 1)), np.full(2, ymin), name=name)
    residualize_response(np.array([[1.0], [0.0]]), np.array([1.0, 0.0]), name=name)


@single_threaded
def lmer(formula: str, data: Any, REML: bool = True, *, weights: str | None = None, offset: str | None = None,
         optimizer: str = "bobyqa", start: ArrayLike | dict | None = None, control: dict | None = None,
         split_every: int = 8) -> DaskLMMResult:
    """:func:`pymer.lmer` for a ``dask.dataframe.DataFrame`` (``pymer.lmer`` dispatches here).

    Parameters are :func:`pymer.lmer`'s (``weights``/``offset`` as column names), and
    ``split_every``: the fan-in of the tree reduction. Runs on the current
    ``dask.distributed`` client if there is one, else on Dask's default scheduler.

    Returns
    -------
    DaskLMMResult
    """
    if not isinstance(REML, (bool, np.bool_, int, np.integer)):
        raise TypeError(f"REML must be True or False, not {REML!r}")
    if not is_dask_dataframe(data):
        raise TypeError(f"data must be a dask.dataframe.DataFrame here, not {type(data).__name__} "
                        "(a Dask Series or array: make a DataFrame with the formula's columns)")
    given_control = control
    control = check_control(control, LMER_CONTROL, "lmer")
    call = ModelCall(lmer, formula, data, {"REML": REML, "weights": weights, "offset": offset,
                                           "optimizer": optimizer, "control": given_control,
                                           "split_every": split_every})
    design, reduced, data = _reduce_design(formula, data, weights, offset, split_every)
    model = DaskLinearMixedModel(design, reduced, REML, data, weights)
    model.call = call
    return model.fit(optimizer=optimizer, start=start, control=control)
