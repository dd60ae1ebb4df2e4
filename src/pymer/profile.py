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

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize as sopt
from scipy import stats

from .optimize import minimize

__all__ = ["profile", "Profile"]


class _LMMDeviance:
    """The deviance of a fitted LMM in lme4's profile parameters."""

    def __init__(self, res):
        from .inference import _require_lmm

        _require_lmm(res, "profile()")
        self.res = res
        model = self.model = res.model
        self.n, self.p = model.n, model.p
        self.re = model.re
        self.theta_lower = self.re.lower_bounds()
        theta = np.asarray(res.theta, dtype=np.float64)
        if res.REML:
            opt = minimize(lambda th: model.objective(th, REML=False), theta, self.theta_lower)
            if opt.fun < model.objective(theta, REML=False):
                theta = opt.x
        self.theta_hat = theta
        self.dev0 = float(model.objective(theta, REML=False))
        core = model.core
        self.sigma_hat = math.sqrt(core.pwrss / self.n)
        self.beta_hat = core.solve_fixed()
        self.psi_hat = self.psi_from_theta(theta, self.sigma_hat)
        # index structure of psi: per term, lower triangle column-major (diag = sd, else cor)
        self._layout = []
        o = 0
        for t in self.re.terms:
            idx = [(r, c) for c in range(t.k) for r in range(c, t.k)]
            self._layout.append((t.k, o, idx))
            o += len(idx)
        self.nvar = o + 1
        lo, hi = [], []
        for k, _, idx in self._layout:
            for r, c in idx:
                lo.append(0.0 if r == c else -1.0)
                hi.append(np.inf if r == c else 1.0)
        self.psi_lower = np.r_[lo, 0.0]
        self.psi_upper = np.r_[hi, np.inf]
        self.is_sd = np.r_[[r == c for _, _, idx in self._layout for r, c in idx], False]

    # ---- parameter maps ------------------------------------------------------
    def psi_from_theta(self, theta, sigma):
        return np.r_[self.re.sd_cor(theta, sigma, undefined_cor=0.0), sigma]

    def theta_from_psi(self, psi):
        """theta for (sd, cor, sigma); None where the correlations are not a correlation matrix."""
        sigma = psi[-1]
        if not sigma > 0:
            return None
        th = []
        for k, o, idx in self._layout:
            vals = psi[o:o + len(idx)]
            if k == 1:
                th.append(vals[0] / sigma)
                continue
            sd = np.zeros(k)
            R = np.eye(k)
            for (r, c), v in zip(idx, vals):
                if r == c:
                    sd[r] = v
                else:
                    R[r, c] = R[c, r] = v
            T = _chol_psd(R)
            if T is None:
                return None
            T = T * sd[:, None] / sigma
            th.extend(T[r, c] for r, c in idx)
        return np.asarray(th, dtype=np.float64)

    # ---- deviances -------------------------------------------------------------
    def dev_psi(self, psi):
        """Deviance at (sd, cor, sigma) with beta profiled out."""
        theta = self.theta_from_psi(psi)
        if theta is None:
            return np.inf
        sigma = psi[-1]
        obj = self.model.objective(theta, REML=False)
        r2 = float(self.model.core.pwrss)
        n = self.n
        if not (np.isfinite(obj) and r2 > 0):
            return np.inf
        return obj - n * (1 + math.log(2 * math.pi * r2 / n)) + n * math.log(2 * math.pi * sigma ** 2) + r2 / sigma ** 2

    def dev_beta(self, theta, j, v, full=False):
        """Deviance with beta_j = v at theta (other betas and sigma profiled out)."""
        model = self.model
        obj = model.objective(theta, REML=False)
        core = model.core
        if not np.isfinite(obj):
            return (np.inf, None, None) if full else np.inf
        RX = core.RX
        Rinv = np.linalg.inv(RX)
        C = Rinv @ Rinv.T
        bhat = core.solve_fixed()
        r2 = float(core.pwrss) + (v - bhat[j]) ** 2 / C[j, j]
        n = self.n
        dev = float(core.logdetL) + n * (1 + math.log(2 * math.pi * r2 / n)) - model.log_w
        if not full:
            return dev
        beta = bhat + C[:, j] * (v - bhat[j]) / C[j, j]
        return dev, math.sqrt(r2 / n), beta

    def beta_at(self, theta):
        self.model.objective(theta, REML=False)
        return self.model.core.solve_fixed()


def _var_layout(re):
    """Per term (k, offset, [(row, col), ...]): lme4's order of the sd/cor parameters."""
    out = []
    o = 0
    for t in re.terms:
        idx = [(r, c) for c in range(t.k) for r in range(c, t.k)]
        out.append((t.k, o, idx))
        o += len(idx)
    return out, o


class _GLMMDeviance:
    """The Laplace (or adaptive Gauss-Hermite) deviance of a fitted GLMM in lme4's
    profile parameters: the sd/cor of the random effects, then the fixed effects.

    Unlike the LMM's, no parameter is profiled out in closed form: every point of a
    profile re-optimizes all the others, (sd/cor, beta) or (theta, beta), with the
    deviance ``model.objective((theta, beta), nAGQ)`` (PIRLS for the modes of u).
    """

    psi_from_theta_sigma = _LMMDeviance.psi_from_theta
    theta_from_psi_sigma = _LMMDeviance.theta_from_psi

    def __init__(self, res):
        model = res.model
        if int(res.nAGQ) == 0:
            raise NotImplementedError(
                "profile() / confint(method='profile') of an nAGQ = 0 GLMM fit is not implemented "
                "(its deviance has beta optimized inside PIRLS, so a fixed effect cannot be held "
                "fixed; lme4's profile() fails on nAGQ = 0 fits too): refit with nAGQ=1, or use "
                "method='wald' or 'boot'")
        if model.family.has_dispersion:
            raise NotImplementedError(
                f"profile() / confint(method='profile') of a {model.family.name} GLMM is not "
                "implemented (profiling its dispersion parameter is missing): use method='wald' "
                "or 'boot'")
        self.res = res
        self.model = model
        self.nAGQ = int(res.nAGQ)
        self.re = model.re
        self.p = model.p
        self.nt = self.re.ntheta
        self.theta_lower = self.re.lower_bounds()
        self._layout, self.nvar = _var_layout(self.re)
        lo, hi = [], []
        for _, _, idx in self._layout:
            for r, c in idx:
                lo.append(0.0 if r == c else -1.0)
                hi.append(np.inf if r == c else 1.0)
        self.psi_lower = np.asarray(lo, dtype=np.float64)
        self.psi_upper = np.asarray(hi, dtype=np.float64)
        self.is_sd = np.asarray([r == c for _, _, idx in self._layout for r, c in idx], dtype=bool)
        self.theta_hat = np.asarray(res.theta, dtype=np.float64).copy()
        self.beta_hat = np.asarray(res.beta, dtype=np.float64).copy()
        self.psi_hat = self.psi_from_theta(self.theta_hat)
        self.dev0 = float(self.dev(self.theta_hat, self.beta_hat))
        V = np.asarray(res._vcov_matrix(), dtype=np.float64)
        self.vcov = V
        se = np.sqrt(np.clip(np.diag(V), 0, None))
        self.beta_se = np.where(np.isfinite(se) & (se > 0), se, 1.0)

    def psi_from_theta(self, theta, sigma=None):
        return self.psi_from_theta_sigma(theta, 1.0)[:-1]

    def theta_from_psi(self, psi):
        return self.theta_from_psi_sigma(np.r_[psi, 1.0])

    def dev(self, theta, beta):
        if theta is None:
            return np.inf
        return float(self.model.objective(np.r_[theta, beta], self.nAGQ))

    def restore(self):
        """Leave the model's PIRLS state at the fit."""
        self.model._u_warm = np.asarray(self.res.u, dtype=np.float64).copy()
        self.dev(self.theta_hat, self.beta_hat)


def _chol_psd(R):
    """Lower Cholesky factor of a correlation matrix that may be singular; None if not PSD."""
    k = R.shape[0]
    L = np.zeros_like(R)
    for j in range(k):
        d = R[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10:
            return None
        L[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, k):
            s = R[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > 0:
                L[i, j] = s / L[j, j]
            elif abs(s) > 1e-10:
                return None
    return L


class _ParamProfile:
    """zeta(value) for one parameter, re-optimizing the others (warm-started)."""

    def __init__(self, D: _LMMDeviance, index: int):
        self.D = D
        self.index = index
        self.is_var = index < D.nvar
        if self.is_var:
            self.est = float(D.psi_hat[index])
            self.lower, self.upper = float(D.psi_lower[index]), float(D.psi_upper[index])
        else:
            self.est = float(D.beta_hat[index - D.nvar])
            self.lower, self.upper = -np.inf, np.inf
        self._starts = []          # (value, start vector) of evaluated points
        self.new_minimum = None

    def _start_for(self, v):
        D = self.D
        if not self._starts:
            return (np.delete(D.psi_hat, self.index) if self.is_var else D.theta_hat).copy()
        vals = np.array([s[0] for s in self._starts])
        return self._starts[int(np.argmin(np.abs(vals - v)))][1].copy()

    def evaluate(self, v):
        """(deviance, psi vector, beta vector) with this parameter fixed at v."""
        D = self.D
        x0 = self._start_for(v)
        if self.is_var:
            j = self.index
            free = np.arange(D.nvar) != j
            lo, hi = D.psi_lower[free], D.psi_upper[free]

            def f(x):
                psi = np.empty(D.nvar)
                psi[free] = x
                psi[j] = v
                return D.dev_psi(psi)

            x0 = np.clip(x0, lo, hi)
            if x0.size:
                opt = minimize(f, x0, lo, hi)
                x, dev = opt.x, opt.fun
            else:
                x, dev = x0, f(x0)
            psi = np.empty(D.nvar)
            psi[free] = x
            psi[j] = v
            theta = D.theta_from_psi(psi)
            beta = D.beta_at(theta) if theta is not None else np.full(D.p, np.nan)
            self._starts.append((v, x.copy()))
            return float(dev), psi, beta
        j = self.index - D.nvar
        opt = minimize(lambda th: D.dev_beta(th, j, v), x0, D.theta_lower)
        dev, sigma, beta = D.dev_beta(opt.x, j, v, full=True)
        self._starts.append((v, opt.x.copy()))
        return float(dev), D.psi_from_theta(opt.x, sigma), beta

    def zeta(self, v):
        dev, psi, beta = self.evaluate(v)
        d = dev - self.D.dev0
        if d < -1e-6 * max(1.0, abs(self.D.dev0)) and self.new_minimum is None:
            self.new_minimum = (v, dev)
        return math.copysign(math.sqrt(max(d, 0.0)), v - self.est) if v != self.est else 0.0, psi, beta

    def scale_guess(self):
        """A rough standard error, for the first step of the grid."""
        D = self.D
        if not self.is_var:
            se = np.sqrt(np.diag(self.D.res._vcov_matrix()))[self.index - D.nvar]
            return float(se) if se > 0 else 1.0
        j = self.index
        psi = D.psi_hat.copy()
        h = 1e-3 * max(abs(psi[j]), 1e-2)
        d0 = D.dev_psi(psi)
        up = psi.copy()
        up[j] += h
        dn = psi.copy()
        dn[j] -= h
        if up[j] > D.psi_upper[j]:
            curv = np.nan
        elif dn[j] < D.psi_lower[j]:          # at a lower bound: one-sided second difference
            up2 = psi.copy()
            up2[j] += 2 * h
            curv = (D.dev_psi(up2) - 2 * D.dev_psi(up) + d0) / h ** 2
        else:
            curv = (D.dev_psi(up) - 2 * d0 + D.dev_psi(dn)) / h ** 2
        if np.isfinite(curv) and curv > 0:
            return math.sqrt(2.0 / curv)
        return 0.1 * max(abs(psi[j]), 0.1)


class _GLMMParamProfile(_ParamProfile):
    """zeta(value) for one parameter of a GLMM: all the other variance parameters and
    fixed effects re-optimized jointly (BOBYQA, warm-started from the nearest points)."""

    def __init__(self, D: _GLMMDeviance, index: int):
        super().__init__(D, index)
        nv = D.nvar
        if self.is_var:
            self._free_lower = np.r_[np.delete(D.psi_lower, index), np.full(D.p, -np.inf)]
            self._free_upper = np.r_[np.delete(D.psi_upper, index), np.full(D.p, np.inf)]
            self._x_hat = np.r_[np.delete(D.psi_hat, index), D.beta_hat]
            self._step = np.r_[np.full(nv - 1, 0.01), 0.05 * D.beta_se]
        else:
            j = index - nv
            self._free_lower = np.r_[D.theta_lower, np.full(D.p - 1, -np.inf)]
            self._free_upper = np.full(D.nt + D.p - 1, np.inf)
            self._x_hat = np.r_[D.theta_hat, np.delete(D.beta_hat, j)]
            self._step = np.r_[np.full(D.nt, 0.01), 0.05 * np.delete(D.beta_se, j)]

    def _split(self, x, v):
        """(theta, psi, beta) of the free vector x with this parameter at v."""
        D = self.D
        nv = D.nvar
        if self.is_var:
            j = self.index
            psi = np.insert(x[:nv - 1], j, v)
            beta = x[nv - 1:]
            return D.theta_from_psi(psi), psi, beta
        j = self.index - nv
        theta = x[:D.nt]
        beta = np.insert(x[D.nt:], j, v)
        return theta, D.psi_from_theta(theta), beta

    def _start_for(self, v):
        pts = sorted(self._starts, key=lambda s: abs(s[0] - v))
        if len(pts) >= 2 and pts[0][0] != pts[1][0]:
            # linear inter-/extrapolation from the two nearest points of the trace
            (v1, x1), (v2, x2) = pts[0], pts[1]
            x = x1 + (x2 - x1) * (v - v1) / (v2 - v1)
        elif pts:
            x = pts[0][1].copy()
        else:
            x = self._x_hat.copy()
            if not self.is_var:
                # first order: the other fixed effects move with beta_j as their covariances say
                D = self.D
                j = self.index - D.nvar
                V = D.vcov
                x[D.nt:] += np.delete(V[:, j], j) / V[j, j] * (v - self.est)
        return np.clip(x, self._free_lower, self._free_upper)

    def evaluate(self, v):
        D = self.D
        x0 = self._start_for(v)

        def f(x):
            theta, _, beta = self._split(x, v)
            return D.dev(theta, beta)

        # a start off by far more than the step is still fine: BOBYQA grows its trust region
        opt = minimize(f, x0, self._free_lower, self._free_upper, ftol_abs=1e-10, xtol_abs=1e-7,
                       initial_step=np.minimum(self._step, np.where(np.isfinite(self._free_upper),
                                                                    0.5 * (self._free_upper - self._free_lower),
                                                                    np.inf)))
        x, dev = opt.x, float(opt.fun)
        self._starts.append((v, x.copy()))
        _, psi, beta = self._split(x, v)
        return dev, psi, beta

    def scale_guess(self):
        D = self.D
        if not self.is_var:
            return float(D.beta_se[self.index - D.nvar])
        j = self.index
        psi = D.psi_hat.copy()
        h = 1e-3 * max(abs(psi[j]), 1e-2)

        def d(pp):
            return D.dev(D.theta_from_psi(pp), D.beta_hat)

        up, dn, up2 = psi.copy(), psi.copy(), psi.copy()
        up[j] += h
        dn[j] -= h
        up2[j] += 2 * h
        if up[j] > D.psi_upper[j]:
            curv = np.nan
        elif dn[j] < D.psi_lower[j]:
            curv = (d(up2) - 2 * d(up) + d(psi)) / h ** 2
        else:
            curv = (d(up) - 2 * d(psi) + d(dn)) / h ** 2
        if np.isfinite(curv) and curv > 0:
            return math.sqrt(2.0 / curv)
        return 0.1 * max(abs(psi[j]), 0.1)


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

    def confint(self, level=0.95) -> pd.DataFrame:
        """Profile confidence intervals: where zeta = -/+ qnorm(1 - (1-level)/2).

        The ends are found by root-finding on zeta (re-optimizing the other
        parameters at each trial value), bracketed by the profile's points. An
        end the profile does not reach before the parameter's bound is the bound
        (0 for a standard deviation, -1/1 for a correlation), NaN otherwise.
        """
        from .inference import _ci_labels

        z = stats.norm.ppf(1 - (1 - level) / 2)
        out = []
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


def profile(res, which=None, alphamax=0.01, maxpts=100, delta=None, delta_cutoff=1 / 8,
            maxmult=10, old_names=True):
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
    from .inference import _select_parms, param_names

    from .glmm import GLMMResult

    glmm = isinstance(res, GLMMResult)
    D = _GLMMDeviance(res) if glmm else _LMMDeviance(res)
    Prof = _GLMMParamProfile if glmm else _ParamProfile
    vnames = param_names(res, old_names)
    names = vnames + list(res.fixef_names)
    sel = _select_parms(names, len(vnames), which)
    cutoff = stats.norm.ppf(1 - alphamax / 2)
    delta = delta_cutoff * cutoff if delta is None else float(delta)
    rows = []
    profiles = {}
    estimates = pd.Series(np.r_[D.psi_hat, D.beta_hat], index=names)
    try:
        for i in sel:
            name = names[i]
            prof = Prof(D, i)
            h0 = max(delta * prof.scale_guess(), 1e-8 * max(1.0, abs(prof.est)))
            rows.append((name, prof.est, 0.0, D.psi_hat.copy(), D.beta_hat.copy()))
            down = _walk(prof, -1, h0, cutoff, maxpts, delta, maxmult, rows, name)
            up = _walk(prof, +1, h0, cutoff, maxpts, delta, maxmult, rows, name)
            profiles[name] = (prof, (down, up))
            if prof.new_minimum is not None:
                warnings.warn(f"profiling {name} found a lower deviance ({prof.new_minimum[1]:.6g} "
                              f"at {prof.new_minimum[0]:.6g}, estimate {D.dev0:.6g}): the fit may "
                              "not have converged", UserWarning, stacklevel=2)
    finally:
        if glmm:
            D.restore()
        else:
            res.model.objective(res.theta)       # leave the shared core at the fitted theta
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
