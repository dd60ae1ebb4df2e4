"""Refits of simulated responses for the parametric bootstrap, by the array.

* :class:`LmmRefits`: the responses of a linear mixed model are fitted in one compiled
  loop (:meth:`pymer._core._optim.LmmObjective.fit_responses`, as ``lmer_many`` does):
  the design, Z'Z and the factorization's analysis are shared, each response brings its
  cross-products Z'r, X'r, r'r (r: the response residualized on X, exactly as
  ``LinearMixedModel.set_response`` computes them) and starts at the fit's theta, as
  ``refit()`` does. Each replicate is then a light fit (:func:`light_fit`): fixef,
  theta, sigma, vcov, VarCorr, logLik and deviance at once; anything else builds the
  refitted model on first use, so any statistic works.
* :class:`GlmmRefits`: a GLMM is refitted on one working copy of the model whose
  response is swapped per replicate (:meth:`GeneralizedLinearMixedModel.set_response`),
  from the fit's theta, as ``refit()`` does.
* :class:`EachRefits`: any other fit, through its own ``refit``.

Each ``result(j)`` raises the replicate's warnings and errors, as ``refit`` would, so
the bootstrap counts them per replicate.
"""
from __future__ import annotations

from typing import Any
from functools import cached_property

import numpy as np
import pandas as pd

from .._core._optim import START_NOT_FINITE, raise_for_status
from ..optimize import OptResult, check_convergence_many, optimizer_key, status_messages, warn_all
from ..validate import (check_residual_scale, filter_conv_messages, least_squares_solver,
                        refined_least_squares, residualize_response, warn_singular)

__all__ = ["refitter", "LmmRefits", "GlmmRefits", "EachRefits", "light_fit"]


def _stock_method(res: Any, name: str, module: str) -> bool:
    """Whether res's class takes method `name` from pymer's own results module `module`
    (a subclass that overrides simulate or refit, as the Dask fits do, keeps its own)."""
    for klass in type(res).__mro__:
        if name in klass.__dict__:
            return klass.__module__ == module
    return False


def refitter(res: Any) -> Any:
    """The refits of res's simulated responses: compiled (LMM), lean (GLMM) or one refit each."""
    if _stock_method(res, "refit", "pymer.results.lmm") and LmmRefits.applies(res):
        return LmmRefits(res)
    if _stock_method(res, "refit", "pymer.results.glmm") and GlmmRefits.applies(res):
        return GlmmRefits(res)
    return EachRefits(res)


def simulates_by_array(res: Any) -> bool:
    """Whether res's ``simulate`` is pymer's own LMM or GLMM one (:mod:`.bootsim` gives its draws)."""
    return (_stock_method(res, "simulate", "pymer.results.lmm")
            or _stock_method(res, "simulate", "pymer.results.glmm"))


class EachRefits:
    """One ``res.refit(y)`` per replicate (fits without an array path)."""

    def __init__(self, res: Any) -> None:
        self.res = res
        self.Y: np.ndarray | None = None

    def fit(self, Y: np.ndarray) -> None:
        """Take the responses (n, k); each is refitted when its result is asked for."""
        self.Y = Y

    def result(self, j: int) -> Any:
        """The refit of response j."""
        assert self.Y is not None
        return self.res.refit(self.Y[:, j])


# ------------------------------------------------------------------------------------------
# generalized linear mixed models: one working copy, the response swapped per replicate
# ------------------------------------------------------------------------------------------

class GlmmRefits:
    """Refits of a GLMM's responses as ``refit()`` makes them (from the fit's theta, the
    same optimizer and nAGQ), without a new model per replicate: one copy of the
    model's cores is shared by the replicates' models (each evaluation sets its own
    theta on them), whose responses and PIRLS states are their own."""

    def __init__(self, res: Any, warm_beta: bool = True) -> None:
        self.res = res
        model = res.model
        # the fitted model's cores stay at the fit: the replicates use copies
        self.work = object.__new__(type(model))
        self.work.__dict__.update(model.__dict__)
        self.work.core_joint = model.core_joint.copy()
        self.work.core_u = model.core_u.copy()
        self.beta_start = np.asarray(res.beta, dtype=np.float64) if warm_beta else None
        self.kwargs = dict(nAGQ=res.nAGQ, start=res.theta, optimizer=getattr(res.opt, "optimizer", "bobyqa"))
        self.Y: np.ndarray | None = None

    @staticmethod
    def applies(res: Any) -> bool:
        """Whether the model can swap its response in place (a GeneralizedLinearMixedModel)."""
        return hasattr(res.model, "set_response") and hasattr(res.model, "core_u")

    def fit(self, Y: np.ndarray) -> None:
        """Take the responses (n, k); each is refitted when its result is asked for."""
        self.Y = Y

    def result(self, j: int) -> Any:
        """The refit of response j (a GLMMResult on a model of its own response)."""
        assert self.Y is not None
        model = object.__new__(type(self.work))
        model.__dict__.update(self.work.__dict__)
        model.set_response(self.Y[:, j], beta_start=self.beta_start)
        return model.fit(**self.kwargs)


# ------------------------------------------------------------------------------------------
# linear mixed models: one compiled loop
# ------------------------------------------------------------------------------------------

class LmmRefits:
    """Refits of a linear mixed model's responses in one compiled loop (see the module)."""

    def __init__(self, res: Any) -> None:
        self.res = res
        model = res.model
        self.ctl = model._fit_control(None)
        self.lower = model.re.lower_bounds()
        # a core of its own: fit_responses writes each response's cross-products into it
        self.work = model.with_response(model.y)
        self.obj = self.work._compiled_objective(self.ctl["optimizer"], self.ctl, self.lower)
        self.derivs = bool(self.ctl["check_conv"] and self.ctl["calc_derivs"])
        self.optimizer = optimizer_key(self.ctl["optimizer"])
        self.out: dict | None = None

    @staticmethod
    def applies(res: Any) -> bool:
        """Whether the model's fit runs the compiled optimizer (BOBYQA or Nelder-Mead on a PLS core)."""
        model = res.model
        if not hasattr(model, "_compiled_objective") or not hasattr(model, "_fit_control"):
            return False
        ctl = model._fit_control(None)
        lower = model.re.lower_bounds()
        return model._compiled_objective(ctl["optimizer"], ctl, lower) is not None

    def fit(self, Y: np.ndarray) -> None:
        """Fit every column of Y (n, k) from the fit's theta, in one compiled call."""
        work, ctl = self.work, self.ctl
        self.Y = Y
        X, w = work.X, work.weights
        k, q, p = Y.shape[1], work.re.q, work.p
        ZtR, XtR, rtr = np.zeros((q, k)), np.zeros((p, k)), np.zeros(k)
        self.resid, self.beta0 = [], []
        self.errors: list = [None] * k
        residualize = _Residualizer(X, w, work.mf.response_name)
        for j in range(k):
            y = Y[:, j]
            try:
                if not np.all(np.isfinite(y)):
                    raise ValueError("newresp contains missing or non-finite values")
                r, b0 = residualize(y - work.offset)
            except Exception as e:      # this replicate fails, as its refit would
                self.errors[j] = e
                r, b0 = np.zeros(work.n), np.zeros(p)
            # LinearMixedModel.set_response's cross-products
            ZtR[:, j], XtR[:, j], rtr[j] = work.response_crossprods(r)
            self.resid.append(r)
            self.beta0.append(b0)
        m = self.lower.size
        X0 = np.tile(np.asarray(self.res.theta, dtype=np.float64), (k, 1))
        S0 = np.full((k, m), np.nan)          # refit(): start given, NLopt's initial step
        ok = np.array([e is None for e in self.errors])
        if np.any(~ok):
            rtr = np.where(ok, rtr, 1.0)      # failed columns: fitted harmlessly, reported failed
        out = self.obj.fit_responses(ZtR, XtR, rtr, X0, S0, boundary_tol=ctl["boundary_tol"],
                                     restart_edge=ctl["restart_edge"], calc_derivs=self.derivs)
        fitted = out["code"] == 0
        self.conv: list = [[] for _ in range(k)]
        if self.derivs and fitted.any():
            js = np.flatnonzero(fitted)
            msgs = check_convergence_many(out["theta"][js], self.lower, out["grad"][js], out["hess"][js],
                                          tol_grad=ctl["check_conv_grad"]["tol"],
                                          tol_hess=ctl["check_conv_hess"]["tol"])
            for i, msg in zip(js.tolist(), msgs):
                self.conv[i] = msg
        n = work.n
        out["sigma"] = np.sqrt(out["pwrss"] / (n - p if work.REML else n))
        # check_residual_scale can only warn where sigma is not well above the residuals' scale
        npos = max(int(np.sum(w > 0)), 1) if w is not None else n
        wres = [r * r if w is None else w * r * r for r in self.resid]
        scale = np.sqrt(np.array([np.sum(v) for v in wres]) / npos) if k else np.zeros(0)
        self.check_scale = ~(np.isfinite(out["sigma"]) & (out["sigma"] > 1e-3 * scale))
        self.out = out

    def result(self, j: int) -> Any:
        """Response j's fit as a light LMM result; its warnings and errors raised as refit's."""
        out, ctl, work = self.out, self.ctl, self.work
        assert out is not None
        if self.errors[j] is not None:
            raise self.errors[j]
        code = int(out["code"][j])
        if code == START_NOT_FINITE:
            raise work._start_error()
        raise_for_status(code)
        theta = out["theta"][j].copy()
        status = int(out["status"][j])
        opt = OptResult(theta, float(out["fun"][j]), int(out["nevals"][j]), self.optimizer,
                        status, status_messages(status, ctl["maxeval"]))
        messages = list(opt.messages) + filter_conv_messages(self.conv[j], ctl)
        warn_all(messages)
        warn_singular(work.re, theta, ctl)
        objective = float(out["objective"][j])
        sigma = float(out["sigma"][j])
        if self.check_scale[j]:
            check_residual_scale(sigma, self.resid[j], work.weights, name=work.mf.response_name)
        fields = dict(theta=theta, opt=opt, messages=messages, REML=work.REML,
                      objective=objective if objective > -np.inf else np.inf,
                      beta=out["beta"][j] + self.beta0[j], pwrss=float(out["pwrss"][j]),
                      RX=out["RX"][j].copy(), sigma=sigma)
        return light_fit(self.res, self.work, self.Y[:, j], fields)


class _Residualizer:
    """:func:`pymer.validate.residualize_response` for many responses of one X: the
    same arithmetic (Householder QR of the weighted X, one step of refinement) with the
    QR computed once; a response near its checks' limits (overflow, underflow, fitted
    exactly) goes through residualize_response itself, which decides and raises."""

    def __init__(self, X: np.ndarray, weights: np.ndarray | None, name: str) -> None:
        self.X, self.weights, self.name = X, weights, name
        self.ls: Any = None
        if X.shape[1]:
            ls = least_squares_solver(X, weights)
            self.ls = ls if ls[2] else None

    def __call__(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.ls is None:
            return residualize_response(self.X, y, self.weights, name=self.name)
        X, scale = self.X, self.ls[1]
        r, beta0 = refined_least_squares(self.ls, X, y)
        rs, ys = scale(r), scale(y)
        with np.errstate(over="ignore"):
            rr, yy = float(np.dot(rs, rs)), float(np.dot(ys, ys))
        rmax = float(np.max(np.abs(rs))) if r.size else 0.0
        if not (np.isfinite(rr) and np.isfinite(yy) and rmax > 1e-140 and np.sqrt(rr) > 1e-10 * np.sqrt(yy)):
            return residualize_response(X, y, self.weights, name=self.name)
        return r, beta0


class _LightLmmFit:
    """Mixin of a light LMM refit: the estimates are set, the refitted model (its own
    core, response and modes) is built on first use of anything that needs it."""

    _parent: Any
    _work: Any
    _y: np.ndarray
    theta: np.ndarray
    beta: np.ndarray

    @cached_property
    def model(self) -> Any:
        """The refitted model: the fitted model with this response (built on first use)."""
        return self._work.with_response(self._y)

    @property
    def re(self) -> Any:
        return self._parent.re

    @property
    def nobs(self) -> int:
        return self._parent.nobs

    @property
    def fixef_names(self) -> list:
        return self._parent.fixef_names

    @property
    def df(self) -> int:
        return self._parent.df

    @cached_property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, with R's coefficient names."""
        return pd.Series(np.asarray(self.beta), index=self._parent.fixef.index, name="fixef")

    def _modes(self) -> None:
        core = self._core_at_optimum()           # type: ignore[attr-defined]
        u = core.solve_u(self.beta)
        self.__dict__.update(u=u, b=core.Lambdat_apply(u), logdetL=float(core.logdetL))

    @cached_property
    def u(self) -> np.ndarray:
        self._modes()
        return self.__dict__["u"]

    @cached_property
    def b(self) -> np.ndarray:
        self._modes()
        return self.__dict__["b"]

    @cached_property
    def logdetL(self) -> float:
        self._modes()
        return self.__dict__["logdetL"]

    def __reduce__(self) -> tuple:
        # pickled as the fit it stands for: the result class of the fitted model
        return (type(self._parent), (self.model, self.theta, self.opt, self.messages))  # type: ignore[attr-defined]


_LIGHT_CLASSES: dict[type, type] = {}


def _light_class(cls: type) -> type:
    """The light-fit class of an LMM result class (made once): the mixin before it."""
    got = _LIGHT_CLASSES.get(cls)
    if got is None:
        got = _LIGHT_CLASSES[cls] = type(cls.__name__, (_LightLmmFit, cls),
                                         {"__module__": cls.__module__, "__doc__": cls.__doc__})
    return got


def light_fit(parent: Any, work: Any, y: np.ndarray, fields: dict) -> Any:
    """An LMM result of `parent`'s class for the refit to response `y` whose estimates
    are `fields` (theta, beta, sigma, objective, pwrss, RX, opt, messages, REML); the
    refitted model is ``work.with_response(y)``, built when first needed."""
    obj: Any = object.__new__(_light_class(type(parent)))
    obj.__dict__.update(fields)
    obj.__dict__.update(_parent=parent, _work=work, _y=y)
    return obj
