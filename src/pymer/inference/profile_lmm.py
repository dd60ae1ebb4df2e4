"""The deviance of a fitted LMM in lme4's profile parameters (sd/cor of the random
effects, sigma, the fixed effects), with beta and sigma profiled out in closed form, and
the profile of one parameter (:class:`_ParamProfile`; :class:`_ProfileBase` holds what it
shares with the GLMM's)."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Generic, Protocol, TypeVar

import numpy as np

from ..optimize import minimize
from .params import _require_lmm, theta_from_sdcor, var_layout


class _LMMDeviance:
    """The deviance of a fitted LMM in lme4's profile parameters."""

    def __init__(self, res):
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
        self._layout, nv = var_layout(self.re)
        self.nvar = nv + 1
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
        return theta_from_sdcor(self._layout, psi)

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


class _Deviance(Protocol):
    """What :class:`_ProfileBase` reads of a deviance (the LMM's and the GLMM's)."""

    nvar: int                # variance parameters (then the fixed effects)
    psi_hat: np.ndarray
    psi_lower: np.ndarray
    psi_upper: np.ndarray
    beta_hat: np.ndarray
    dev0: float


_D = TypeVar("_D", bound=_Deviance)


class _ProfileBase(ABC, Generic[_D]):
    """zeta(value) for one parameter of a deviance `D`, re-optimizing the others."""

    def __init__(self, D: _D, index: int):
        self.D = D
        self.index = index
        self.is_var = index < D.nvar
        if self.is_var:
            self.est = float(D.psi_hat[index])
            self.lower, self.upper = float(D.psi_lower[index]), float(D.psi_upper[index])
        else:
            self.est = float(D.beta_hat[index - D.nvar])
            self.lower, self.upper = -np.inf, np.inf
        self._starts: list[tuple[float, np.ndarray]] = []   # (value, start vector) of evaluated points
        self.new_minimum = None

    @abstractmethod
    def evaluate(self, v: float) -> tuple[float, np.ndarray, np.ndarray]:
        """(deviance, psi vector, beta vector) with this parameter fixed at v."""

    @abstractmethod
    def scale_guess(self) -> float:
        """A rough standard error, for the first step of the grid."""

    def zeta(self, v):
        dev, psi, beta = self.evaluate(v)
        d = dev - self.D.dev0
        if d < -1e-6 * max(1.0, abs(self.D.dev0)) and self.new_minimum is None:
            self.new_minimum = (v, dev)
        return math.copysign(math.sqrt(max(d, 0.0)), v - self.est) if v != self.est else 0.0, psi, beta


class _ParamProfile(_ProfileBase[_LMMDeviance]):
    """zeta(value) for one parameter of an LMM, re-optimizing the others (warm-started)."""

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
