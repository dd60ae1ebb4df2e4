"""The Laplace (or adaptive Gauss-Hermite) deviance of a fitted GLMM in lme4's profile
parameters, and the profile of one parameter with every other re-optimized."""
from __future__ import annotations

import math

import numpy as np

from ..optimize import minimize
from .params import theta_from_sdcor, var_layout
from .profile_lmm import _ProfileBase


class _GLMMDeviance:
    """The Laplace (or adaptive Gauss-Hermite) deviance of a fitted GLMM in lme4's
    profile parameters: the sd/cor of the random effects, then the fixed effects.

    Unlike the LMM's, no parameter is profiled out in closed form: every point of a
    profile re-optimizes all the others, (sd/cor, beta) or (theta, beta), with the
    deviance ``model.objective((theta, beta), nAGQ)`` (PIRLS for the modes of u).
    """

    def __init__(self, res):
        model = res.model
        if int(res.nAGQ) == 0:
            raise NotImplementedError(
                "profile() / confint(method='profile') of an nAGQ = 0 GLMM fit is not implemented "
                "(its deviance has beta optimized inside PIRLS, so a fixed effect cannot be held "
                "fixed; lme4's profile() fails on nAGQ = 0 fits too): refit with nAGQ=1, or use "
                "method='wald' or 'boot'")
        if res.has_dispersion:
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
        self._layout, self.nvar = var_layout(self.re)
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
        return self.re.sd_cor(theta, 1.0, undefined_cor=0.0)

    def theta_from_psi(self, psi):
        return theta_from_sdcor(self._layout, np.r_[psi, 1.0])

    def dev(self, theta, beta):
        if theta is None:
            return np.inf
        return float(self.model.objective(np.r_[theta, beta], self.nAGQ))

    def restore(self):
        """Leave the model's PIRLS warm start at the fit's modes (its compiled state is
        put back by ``res.restoring_core()``)."""
        self.model._u_warm = np.asarray(self.res.u, dtype=np.float64).copy()
        self.dev(self.theta_hat, self.beta_hat)


class _GLMMParamProfile(_ProfileBase[_GLMMDeviance]):
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
