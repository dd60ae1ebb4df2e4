"""Likelihood profiles of linear mixed models and the confidence intervals they give.

Following Bates et al. (2015, JSS 67(1), section 5.1): for each parameter of the
model -- the standard deviations and correlations of the random effects, the
residual standard deviation sigma, and each fixed effect -- fix it at a value,
re-optimize the deviance over all the other parameters, and record

    zeta = sign(value - estimate) * sqrt(deviance(value) - deviance(estimate)).

As lme4 does, the profiled criterion is the deviance (-2 log-likelihood), also
for models fitted by REML; the profile is centred at the maximum-likelihood
estimates. A confidence interval of level 1 - alpha is where |zeta| <= z_{1-alpha/2};
its ends are found here by root-finding on zeta itself (each evaluation
re-optimizes the other parameters), bracketed by the profile's grid.

For the variance parameters the deviance at (sd/cor, sigma) has beta profiled out:

    -2 log L = log|L|^2 + n log(2 pi sigma^2) + r^2(theta) / sigma^2,

with theta the relative covariance factor of the sd/cor values. For a fixed
effect beta_j = v, the other fixed effects and sigma are profiled out exactly:
r^2 grows by (v - beta_j(theta))^2 / [(R_X'R_X)^-1]_jj and sigma^2 = r^2 / n;
theta is re-optimized.

GLMMs (:class:`_GLMMDeviance`): the profiled criterion is the Laplace (nAGQ = 1) or
adaptive Gauss-Hermite deviance of the fit, ``model.objective((theta, beta))``; the
parameters are the sd/cor of the random effects (sigma = 1, so for a scalar term the
sd is theta) and the fixed effects. Nothing is profiled out in closed form: at each
value every other parameter (sd/cor or theta, and beta) is re-optimized by BOBYQA,
warm-started from the nearest points of the trace. nAGQ = 0 fits (beta inside PIRLS;
lme4's profile fails on them too) and families with a dispersion parameter raise
NotImplementedError.
"""
from __future__ import annotations

from typing import Any
from contextlib import contextmanager

import numpy as np
import pandas as pd
from scipy import optimize as sopt
from scipy import stats

from ..errors import warn
from .params import _ci_labels, _select_parms, param_names
from .profile_glmm import _GLMMDeviance, _GLMMParamProfile
from .profile_lmm import _LMMDeviance, _ParamProfile

__all__ = ["profile", "Profile"]


@contextmanager
def _moving_core(D):
    """Evaluating the deviance `D` moves the model's shared compiled core (and a GLMM's
    PIRLS warm start); on leaving this block both are back at the fit."""
    with D.res.restoring_core():
        try:
            yield
        finally:
            if isinstance(D, _GLMMDeviance):
                D.restore()


class Profile(pd.DataFrame):
    """The profile of a fitted linear mixed model: a DataFrame in lme4's layout.

    One row per evaluated point: ``.par`` (the parameter profiled), ``.focal``
    (its value), ``.zeta`` (signed square root of the deviance change), then the
    value of every parameter at that point (the profiled one and the
    re-optimized others). Plot ``.zeta`` against ``.focal`` per ``.par``
    (``pymer.plots.profile_plot``) to see the profile traces.

    Attributes
    ----------
    estimates : pandas.Series
        The maximum-likelihood estimates the profile is centred on.
    param_names : list of str
        The parameters profiled, in lme4's order.

    Methods
    -------
    confint(level=0.95)
        Profile confidence intervals.
    """

    _metadata = ["_profiles", "estimates", "param_names"]

    @property
    def _constructor(self):
        # slices and copies are plain DataFrames (they no longer describe a whole profile)
        return pd.DataFrame

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Profile confidence intervals: where zeta = -/+ qnorm(1 - (1-level)/2).

        The ends are found by root-finding on zeta (re-optimizing the other
        parameters at each trial value), bracketed by the profile's points. An
        end the profile does not reach before the parameter's bound is the bound
        (0 for a standard deviation, -1/1 for a correlation), NaN otherwise.
        """
        z = stats.norm.ppf(1 - (1 - level) / 2)
        out = []
        if self.param_names:
            with _moving_core(self._profiles[self.param_names[0]][0].D):
                for nm in self.param_names:
                    prof, walks = self._profiles[nm]
                    out.append([_find_end(prof, walks[0], -z), _find_end(prof, walks[1], z)])
        return pd.DataFrame(out, index=list(self.param_names), columns=_ci_labels(level))


def _find_end(prof, pts, target):
    """Value where zeta crosses `target` along one direction's grid points [(v, zeta)]."""
    prev = (prof.est, 0.0)
    for v, zv in pts:
        if (target < 0 and zv <= target) or (target > 0 and zv >= target):
            a, b = prev[0], v
            if a == b:
                return v
            return sopt.brentq(lambda x: prof.zeta(x)[0] - target, min(a, b), max(a, b),
                               xtol=1e-10 * max(1.0, abs(a), abs(b)), rtol=1e-12, maxiter=200)
        prev = (v, zv)
    last = pts[-1][0] if pts else prof.est
    bound = prof.lower if target < 0 else prof.upper
    if np.isfinite(bound) and abs(last - bound) <= 1e-12 * max(1.0, abs(bound)):
        return bound
    return np.nan


def _walk(prof, direction, h0, cutoff, maxpts, delta, maxmult, rows, name):
    """Step away from the estimate until |zeta| > cutoff or the bound is reached."""
    pts = []
    v_prev, z_prev = prof.est, 0.0
    bound = prof.lower if direction < 0 else prof.upper
    step = h0
    for _ in range(maxpts):
        if np.isfinite(bound) and abs(v_prev - bound) <= 1e-12 * max(1.0, abs(bound)):
            break
        v = v_prev + direction * step
        if (direction < 0 and v <= bound) or (direction > 0 and v >= bound):
            v = bound
        zv, psi, beta = prof.zeta(v)
        pts.append((v, zv))
        rows.append((name, v, zv, psi, beta))
        if abs(zv) >= cutoff:
            break
        dz = abs(zv - z_prev)
        dv = abs(v - v_prev)
        new = delta * dv / dz if dz > 0 else step * maxmult
        step = min(max(new, step / maxmult), step * maxmult)
        v_prev, z_prev = v, zv
    return pts


def profile(res: Any, which: str | list[str] | None = None, alphamax: float = 0.01, maxpts: int = 100,
            delta: float | None = None, delta_cutoff: float = 1 / 8, maxmult: int = 10,
            old_names: bool = True) -> Profile:
    """Profile the deviance of a mixed model over each parameter (lme4's profile()).

    Parameters
    ----------
    res : LMMResult or GLMMResult
        For a GLMM (Laplace, nAGQ = 1, or adaptive Gauss-Hermite, nAGQ > 1;
        binomial, Poisson or negative binomial with its theta held fixed) the
        deviance is re-optimized over all the other parameters at every point;
        nAGQ = 0 fits and families with a dispersion parameter raise
        NotImplementedError.
    which : None, list of names or indices, "theta_" or "beta_"
        Parameters to profile (default all): the variance parameters in lme4's
        order (sd/cor of each term, then sigma for an LMM) followed by the fixed
        effects.
    alphamax : float
        Profile out to |zeta| = qnorm(1 - alphamax/2) (both directions).
    maxpts : int
        Maximum points per direction.
    delta : float, optional
        Target change of zeta between points (default ``delta_cutoff * cutoff``).
    maxmult : float
        Largest factor by which a step may grow from the previous one.
    old_names : bool
        ``.sig01``, ``.sigma`` (lme4's default) or ``sd_(Intercept)|g``, ``sigma``.

    Returns
    -------
    Profile
    """
    if not hasattr(res, "restoring_core"):
        raise TypeError(f"profile() needs a fitted model (a pymer.lmer or pymer.glmer result), "
                        f"not {type(res).__name__}")
    linear = res.is_linear
    D = _LMMDeviance(res) if linear else _GLMMDeviance(res)
    vnames = param_names(res, old_names)
    names = vnames + list(res.fixef_names)
    sel = _select_parms(names, len(vnames), which)
    cutoff = stats.norm.ppf(1 - alphamax / 2)
    delta = delta_cutoff * cutoff if delta is None else float(delta)
    rows = []
    profiles = {}
    estimates = pd.Series(np.r_[D.psi_hat, D.beta_hat], index=names)
    with _moving_core(D):
        for i in sel:
            name = names[i]
            prof = _ParamProfile(D, i) if isinstance(D, _LMMDeviance) else _GLMMParamProfile(D, i)
            h0 = max(delta * prof.scale_guess(), 1e-8 * max(1.0, abs(prof.est)))
            rows.append((name, prof.est, 0.0, D.psi_hat.copy(), D.beta_hat.copy()))
            down = _walk(prof, -1, h0, cutoff, maxpts, delta, maxmult, rows, name)
            up = _walk(prof, +1, h0, cutoff, maxpts, delta, maxmult, rows, name)
            profiles[name] = (prof, (down, up))
            if prof.new_minimum is not None:
                warn(f"profiling {name} found a lower deviance ({prof.new_minimum[1]:.6g} "
                     f"at {prof.new_minimum[0]:.6g}, estimate {D.dev0:.6g}): the fit may "
                     "not have converged", UserWarning)
    recs = []
    for name, v, zv, psi, beta in rows:
        recs.append([name, v, zv] + list(psi) + list(beta))
    frame = pd.DataFrame(recs, columns=[".par", ".focal", ".zeta"] + names)
    frame = frame.sort_values([".par", ".focal"], kind="stable",
                              key=lambda s: s.map({n: k for k, n in enumerate(names)}) if s.name == ".par" else s)
    out = Profile(frame.reset_index(drop=True))
    out._profiles = profiles
    out.estimates = estimates
    out.param_names = [names[i] for i in sel]
    return out
