"""Generalized linear mixed models of a Dask DataFrame: ``pymer.glmer(formula, data=ddf)``.

1. the template pass of :mod:`pymer.dask.model` (global levels, fixed-effects columns,
   the pattern of Z'Z; a text or categorical response is a factor of global levels);
2. each partition's design (y, prior weights, offset, X, Z row-wise, Z'WZ positions)
   built once, checked with the in-memory response checks, and persisted on the workers;
   a small pass brings back X'WX (aliased columns), the response's range and the sums
   of the GLM's first step;
3. the in-memory fit (:class:`pymer.glmm.GeneralizedLinearMixedModel`'s two stages,
   convergence checks and Hessian) on :class:`pymer.dask.pirls.DaskPIRLS`, whose every
   PIRLS point is one pass over the partitions (map + tree reduction of the sums).

Fitted values, residuals and predictions are lazy Dask Series.
"""
from __future__ import annotations

import uuid
import warnings
from types import SimpleNamespace

import dask
import numpy as np
import pandas as pd

from .._core._blas_threads import single_threaded
from .._core._pls import PLS
from ..call import ModelCall
from ..errors import PymerDataError, ResponseWarning, warn
from ..families import RESIDUAL_TYPES, binomial_response, get_family, glm_residuals
from ..formula.syntax import _Call, _deparse, _Paren
from ..glmm import GeneralizedLinearMixedModel
from ..results import GLMMResult
from ..validate import (check_control, check_family, check_family_object, check_family_response,
                        check_fitted_boundary, check_grouping_factors, check_nagq,
                        check_response_not_constant, split_start, _optimizer_name)
from ._pirls_rows import ztz_positions
from .design import Design, Range, RFactor, complete_rows
from .model import (EXACT_QUANTILE_ROWS, _gram_root, _Predictor, aliased_columns, is_dask_dataframe,
                    template_design)
from .pirls import DaskPIRLS, PartitionRows, glm_start

__all__ = ["glmer", "DaskGeneralizedLinearMixedModel", "DaskGLMMResult"]

# families whose Laplace deviance needs no dispersion (sums of deviance residuals)
_FAMILIES = ("binomial", "poisson", "negative.binomial")


class GLMMDesign(Design):
    """A Design whose response is read as glmer reads it: a number, ``cbind(successes,
    failures)``, or (binomial) a factor whose first level of all rows is failure."""

    @property
    def response_levels(self):
        return self.mf.response_levels

    def response(self, ev) -> np.ndarray:
        lhs = self.lhs.x if isinstance(self.lhs, _Paren) else self.lhs
        name = self.mf.response_name
        if isinstance(lhs, _Call) and lhs.fn.name == "cbind":
            vals = [ev.eval(a) for _, a in lhs.args]
            for (_, a), v in zip(lhs.args, vals):
                if v.kind == "fac":
                    raise PymerDataError(f"'{_deparse(a)}' in the response '{name}' is not numeric")
            return np.column_stack([v.data for v in vals]).astype(np.float64)
        yv = ev.eval(self.lhs)
        if yv.kind == "fac":
            labels = np.asarray(yv.levels, dtype=object)[np.asarray(yv.data, dtype=np.intp)]
            return (labels != self.response_levels[0]).astype(np.float64)
        return np.asarray(yv.data, dtype=np.float64)


# =============================================================================
# per partition (on the workers)
# =============================================================================


def build_state(design: GLMMDesign, part: pd.DataFrame, family):
    """A partition's rows as PIRLS needs them (all fixed-effects columns), checked as the
    in-memory glmer checks its response; warnings are kept for the client."""
    p = len(design.keep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not len(complete_rows(part, design.used)):
            X, y, off, w = np.zeros((0, p)), np.zeros(0), np.zeros(0), None
            zcols, zvals = np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1))
        else:
            X, y, off, w, re = design.rows(part)
            zcols, zvals = re.zrows()
        name = design.mf.response_name
        check_family_response(family.name, y, w if family.name == "binomial" and y.ndim == 1 else None,
                              name=name)
        if family.name == "binomial" and len(y):
            ybin, pw = binomial_response(SimpleNamespace(y=y, response_name=name), w)
        else:
            ybin, pw = y, (np.ones(len(y)) if w is None else w)
    if y.ndim == 2:
        tot = y.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            prop = y[tot > 0, 0] / tot[tot > 0]
    else:
        prop = y
    return {"y": np.ascontiguousarray(ybin, dtype=np.float64), "pw": np.ascontiguousarray(pw, dtype=np.float64),
            "offset": np.ascontiguousarray(off, dtype=np.float64), "X": np.asfortranarray(X, dtype=np.float64),
            "zcols": np.ascontiguousarray(zcols, dtype=np.int64),
            "zvals": np.ascontiguousarray(zvals, dtype=np.float64),
            "zpos": ztz_positions(zcols, design.colptr, design.rowind),
            "warnings": [(str(c.message), c.category) for c in caught],
            "range": Range(float(prop.min()), float(prop.max())) if len(prop) else Range(),
            "R": RFactor(X if w is None else X[w > 0])}


def state_info(state):
    return (state["warnings"], state["range"], state["R"])


def select_columns(state, keep):
    out = dict(state)
    out["X"] = np.asfortranarray(state["X"][:, keep])
    return out


def init_sums(state, family):
    """The GLM's first IRLS step from the family's starting means (R's mustart), and the
    sums of the intercept-only start: ([X z]'W[X z], sum pw y, sum pw, sum y, rows, X'X,
    X'1, X'offset)."""
    X, y, pw, off = state["X"], state["y"], state["pw"], state["offset"]
    p = X.shape[1]
    if not len(y):
        z = np.zeros((p + 1, p + 1))
        return (z, 0.0, 0.0, 0.0, 0, z[:p, :p], np.zeros(p), np.zeros(p))
    with np.errstate(all="ignore"):
        eta = family.linkfun(family.initial_mu(y, pw))
        mu, me, var, _, _ = family.eval(eta, y, pw)
        wk = pw * me ** 2 / var
        Xz = np.column_stack([X, eta - off + (y - mu) / me])
    return ((Xz * wk[:, None]).T @ Xz, float(pw @ y), float(pw.sum()), float(y.sum()), len(y), X.T @ X,
            X.sum(axis=0), X.T @ off)


def edge_rows(state, family, beta, b):
    """(rows whose fitted mean is at the family's edge, rows of positive weight)."""
    X, off, pw = state["X"], state["offset"], state["pw"]
    if not len(pw):
        return (0, 0)
    eta = X @ beta + off + np.sum(state["zvals"] * b[state["zcols"]], axis=1)
    mu = family.eval(eta, np.zeros_like(eta), np.ones_like(eta))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = check_fitted_boundary(family, mu, pw)
    return (k, int(np.sum(pw > 0)))


# =============================================================================
# the model and its result
# =============================================================================


class DaskGeneralizedLinearMixedModel(GeneralizedLinearMixedModel):
    """A GLMM whose PIRLS passes run over the persisted partitions of a Dask DataFrame.

    ``X`` is a p x p stand-in with X'X of the data; ``y``, ``pw`` and ``offset`` stay on
    the workers (None here).
    """

    def __init__(self, design, rows, info, family, data, call=None, control=None):
        self.design = design
        self.mf = design.mf
        self.call = call
        self.control = control
        self.family = family
        self.data = data
        self.rows = rows
        self.n = info["n"]
        self.nobs_dropped = info["ndropped"]
        self.fixef_names = [design.mf.fixef_names[i] for i in design.keep]
        self.dropped_fixef = info["dropped"]
        self.X = _gram_root(info["XtX"])
        self.p = len(design.keep)
        self.y = self.pw = self.offset = self.weights = None
        self.re = design.re
        check_grouping_factors(self.re, self.n, lmm=False, control=control)
        self.colptr, self.rowind = design.colptr, design.rowind
        col_term, col_off = self.re.column_structure()
        q, p, nnz = self.re.q, self.p, self.rowind.shape[0]
        self.core_joint = PLS(self.colptr, self.rowind, np.zeros(nnz), np.zeros((q, p + 1)), np.eye(p + 1),
                              col_term, col_off, self.re.term_k, self.n)
        self.core_u = PLS(self.colptr, self.rowind, np.zeros(nnz), np.zeros((q, 1)), np.eye(1),
                          col_term, col_off, self.re.term_k, self.n)
        self._make_pirls()
        self.beta_start = glm_start(rows, family, info["init"])

    def _make_pirls(self):
        self.pirls_joint = DaskPIRLS(self.rows, self.core_joint, self.family)
        self.pirls_u = DaskPIRLS(self.rows, self.core_u, self.family)

    def with_response(self, y):
        raise NotImplementedError("a new response for a Dask DataFrame fit: assign the column to the "
                                  "Dask DataFrame and call update(data=...)")

    def set_response(self, y, beta_start=None) -> None:
        self.with_response(y)       # raises: the rows are on the workers

    def fit(self, *args, **kwargs):
        res = GeneralizedLinearMixedModel.fit(self, *args, **kwargs)
        out = DaskGLMMResult.__new__(DaskGLMMResult)
        out.__dict__.update(res.__dict__)
        return out


class _GLMMPredictor(_Predictor):
    """Per partition: the linear predictor, means and residuals of a GLMM fit."""

    def __init__(self, res):
        super().__init__(res)
        self.family = res.family

    def fitted(self, part):
        eta = super().fitted(part)
        return pd.Series(self.family.linkinv(eta.to_numpy()), index=eta.index, dtype=np.float64)

    def response_eta(self, part, re_form=None, allow_new_levels=False):
        eta = self.eta(part, re_form, allow_new_levels)
        return pd.Series(self.family.linkinv(eta.to_numpy()), index=eta.index, dtype=np.float64)

    def residuals(self, part, type, scaled):
        part = complete_rows(part, self.design.used)
        if not len(part):
            return pd.Series([], dtype=np.float64)
        _, y, _, w, _ = self.design.rows(part)
        if self.family.name == "binomial":
            y, pw = binomial_response(SimpleNamespace(y=y, response_name=""), w)
        else:
            pw = np.ones(len(y)) if w is None else w
        eta = self.eta(part).to_numpy()
        mu, me, var, dr, _ = self.family.eval(eta, y, pw)
        r = glm_residuals(type, y, mu, pw, me, var, dr)
        return pd.Series(r / self.sigma if scaled else r, index=part.index, dtype=np.float64)


_SERIES = pd.Series([], dtype=np.float64)


class DaskGLMMResult(GLMMResult):
    """A GLMMResult of a Dask DataFrame fit: estimates, summary, vcov, VarCorr, ranef,
    Wald intervals and likelihood-ratio tests as in memory; ``fitted``, ``residuals()``
    and ``predict()`` return lazy Dask Series over the complete rows' partitions."""

    @property
    def _predictor(self):
        return _GLMMPredictor(self)

    @property
    def fitted(self):
        """Fitted means (the response scale) of the complete rows: a lazy Dask Series."""
        return self.model.data.map_partitions(self._predictor.fitted, meta=_SERIES)

    def residuals(self, type="deviance", scaled=False):
        """Residuals of the complete rows as a lazy Dask Series (types as GLMMResult.residuals)."""
        if type not in RESIDUAL_TYPES:
            raise ValueError(f"unknown residual type {type!r}; use 'deviance', 'pearson', 'working' or 'response'")
        return self.model.data.map_partitions(self._predictor.residuals, type, scaled, meta=_SERIES)

    def predict(self, newdata=None, re_form=None, allow_new_levels=False, type="link", **kwargs):
        """lme4's predict(): a lazy Dask Series for a Dask DataFrame (or the fitted rows when
        newdata is None), as GLMMResult.predict for an in-memory frame."""
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        if newdata is not None and not is_dask_dataframe(newdata):
            return GLMMResult.predict(self, newdata, re_form, allow_new_levels, type, **kwargs)
        if kwargs:
            raise NotImplementedError(f"{', '.join(kwargs)} of predict() on a Dask DataFrame")
        if newdata is None:
            newdata = self.model.data.map_partitions(complete_rows, self.model.design.used)
        fn = self._predictor.eta if type == "link" else self._predictor.response_eta
        return newdata.map_partitions(fn, re_form, allow_new_levels, meta=_SERIES)

    def _residual_quantiles(self):
        r = self.residuals("pearson", scaled=True)
        if self.nobs <= EXACT_QUANTILE_ROWS:
            return np.quantile(r.compute().to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        return np.sort(r.quantile([0, 0.25, 0.5, 0.75, 1]).compute().to_numpy())

    def simulate(self, nsim=1, seed=None, use_u=False):
        raise NotImplementedError("simulate() of a Dask DataFrame fit is not available: it would "
                                  "build n x nsim values in the client")

    def refit(self, newresp, **kwargs):
        raise NotImplementedError("refit() of a Dask DataFrame fit is not available: update the "
                                  "response column of the Dask DataFrame and call update(data=...)")

    def _getme(self, key):
        if key in ("X", "Z", "Zt", "Ztlist", "y", "mu", "offset", "weights", "flist"):
            raise NotImplementedError(f"getme({key!r}) of a Dask DataFrame fit would gather the rows "
                                      "into this process")
        return GLMMResult._getme(self, key)


# =============================================================================
# the passes and glmer()
# =============================================================================


def _reduce(formula, data, family, weights, offset, split_every, control):
    design, n_all, n, data, parts = template_design(formula, data, weights, offset, split_every,
                                                    design_cls=GLMMDesign,
                                                    factor_response=True)
    mf = design.mf
    levels = mf.response_levels
    if family.name != "binomial" and (levels is not None or np.asarray(mf.y).ndim != 1):
        what = f"a factor (levels {list(levels)[:4]})" if levels is not None else "cbind(...)"
        raise PymerDataError(f"response '{mf.response_name}' is {what}; the {family.name} family needs one "
                             "numeric column")
    if levels is not None and len(levels) > 2:
        warn(f"factor response '{mf.response_name}' has {len(levels)} levels: as R does, the first "
             f"('{levels[0]}') counts as failure and all others "
             f"({', '.join(repr(x) for x in list(levels)[1:4])}{', ...' if len(levels) > 4 else ''})"
             " as success", ResponseWarning)
    dd = dask.delayed(design, name="pymer-design-" + uuid.uuid4().hex, traverse=False)
    # pass 2: each partition's design, persisted where it was built
    rows = PartitionRows.persist([dask.delayed(build_state)(dd, p, family) for p in parts], p=len(design.keep),
                                 q=design.re.q, nnz=design.rowind.shape[0], family=family,
                                 split_every=split_every)
    infos = rows.gather(rows.map(state_info))
    seen = set()
    for ws, _, _ in infos:
        for msg, cat in ws:
            if cat not in seen:
                seen.add(cat)
                warn(msg, cat)
    yrange = Range()
    for _, r, _ in infos:
        yrange = yrange + r
    if yrange.lo == yrange.hi:
        check_response_not_constant(np.array([yrange.lo, yrange.hi]), name=mf.response_name,
                                    action=(control or {}).get("check_response_not_const", "stop"))
    R = infos[0][2]
    for i in infos[1:]:
        R = R + i[2]
    dropped = aliased_columns(design, R)
    if dropped:
        rows.update(select_columns, design.keep)
    rows.p = len(design.keep)
    XztXz, swy, sw, sy, nr, XtX, Xt1, Xto = rows.reduce(rows.map(init_sums, family))
    init = {"XztXz": XztXz, "sum_wy": swy, "sum_w": sw, "mean_y": sy / max(nr, 1), "XtX": XtX, "Xt1": Xt1,
            "Xto": Xto}
    info = {"n": n, "ndropped": n_all - n, "dropped": dropped, "XtX": XtX, "init": init}
    return design, rows, info, data


@single_threaded
def glmer(formula, data, family=None, *, nAGQ=1, weights=None, offset=None, optimizer=None, start=None,
          control=None, split_every=8):
    """:func:`pymer.glmer` for a ``dask.dataframe.DataFrame`` (``pymer.glmer`` dispatches here).

    Parameters are :func:`pymer.glmer`'s (``weights``/``offset`` as column names), for the
    binomial, Poisson and negative binomial (known theta) families at nAGQ = 0 or 1, and
    ``split_every``: the fan-in of the tree reduction. Runs on the current
    ``dask.distributed`` client if there is one, else on Dask's default scheduler.

    Returns
    -------
    DaskGLMMResult
    """
    if not is_dask_dataframe(data):
        raise TypeError(f"data must be a dask.dataframe.DataFrame here, not {type(data).__name__}")
    nAGQ = check_nagq(nAGQ)
    if nAGQ > 1:
        raise NotImplementedError("nAGQ > 1 is not available for a Dask DataFrame: use nAGQ = 0 or 1")
    if family is None:
        raise NotImplementedError("glmer() without family= fits a gaussian model (lmer): on a Dask "
                                  "DataFrame call pymer.lmer")
    if isinstance(family, str):
        family = check_family(family)
    fam = get_family(family)
    check_family_object(fam)
    if fam.name not in _FAMILIES:
        raise NotImplementedError(f"the {fam.name} family on a Dask DataFrame is not available (its "
                                  "dispersion needs per-row sums pymer does not reduce yet): use "
                                  "'binomial', 'poisson' or a negative binomial of known theta, or "
                                  "fit in memory")
    given_control = control
    ctl = check_control(control, fun="glmer")
    if optimizer is not None:
        ctl["optimizer"] = (_optimizer_name(optimizer),) * 2
    call = ModelCall(glmer, formula, data, {"family": fam, "nAGQ": nAGQ, "weights": weights, "offset": offset,
                                            "optimizer": optimizer, "start": start, "control": given_control,
                                            "split_every": split_every})
    design, rows, info, data = _reduce(formula, data, fam, weights, offset, split_every, ctl)
    model = DaskGeneralizedLinearMixedModel(design, rows, info, fam, data, call=call, control=ctl)
    theta0, fixef0 = split_start(start, model.re, model.fixef_names)
    res = model.fit(nAGQ=nAGQ, control=ctl, start=theta0, start_fixef=fixef0)
    edges = rows.reduce(rows.map(edge_rows, fam, res.beta, res.b))
    if edges[0]:
        mu = np.full(edges[1], 0.5)
        mu[:edges[0]] = 0.0
        check_fitted_boundary(fam, mu, np.ones(edges[1]))
    return res
