"""glmmTMB's likelihood for a model without random effects (plain maximum
likelihood, as glmmTMB fits ``count ~ spp + mined``): the interface of the
compiled Laplace state (:class:`pymer._core._tmb.TMBLaplace`: ``set_fixed``,
``set_parameters``, ``laplace``, the state's vectors), so that the model's
objective and fit are the same code with and without random effects.

The per-observation log-densities come from the compiled family code
(:func:`pymer._core._tmb.obs_loglik`, a loop that releases the GIL). With REML
(gaussian family) the conditional fixed effects are integrated out as glmmTMB
does: a Laplace approximation over beta (exact for the identity link),
-2 log L_R = -2 l(beta_hat) + log|X' D X| - p log(2 pi).
"""
from __future__ import annotations

import numpy as np

from .._core._tmb import obs_loglik


class FixedEffectsCore:
    """The likelihood state of a glmmTMB model with no random effects.

    Parameters
    ----------
    y, size, prior_weights : (n,) arrays
        Response, binomial numbers of trials (1 otherwise), and the weights that
        multiply each observation's log-likelihood.
    X : (n, p) array
        The conditional fixed effects' design (used when ``joint``: REML).
    family, link : int
        Compiled family and link codes.
    trunc, has_zi : bool
    joint : bool
        Whether beta is integrated out (REML).
    """

    def __init__(self, y, size, prior_weights, X, family: int, link: int, trunc: bool, has_zi: bool,
                 joint: bool):
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n = self.y.shape[0]
        self.size = np.ascontiguousarray(size, dtype=np.float64)
        self.pw = np.ascontiguousarray(prior_weights, dtype=np.float64)
        self.X = np.asarray(X, dtype=np.float64)
        self.family, self.link, self.trunc, self.has_zi = family, link, bool(trunc), bool(has_zi)
        self.joint = bool(joint)
        self.p = self.X.shape[1] if joint else 0
        self.fixed = np.zeros(self.n)
        self.etaz = np.zeros(self.n)
        self.phi = np.ones(self.n)
        self.power = 1.5
        self.beta = np.zeros(self.p)
        self.eta = np.zeros(self.n)
        self.h = np.zeros(self.n)
        self.RX = np.zeros((self.p, self.p))
        self.status = 0
        self.iterations = 0
        self.maxit = 200

    # ---- the state ----------------------------------------------------------------
    def set_fixed(self, fixed) -> None:
        """Only the conditional model's fixed part of eta (the rest as it was)."""
        fixed = np.asarray(fixed, dtype=np.float64)
        if fixed.shape[0] != self.n:
            raise ValueError(f"fixed needs {self.n} values")
        self.fixed = fixed.copy()

    def set_parameters(self, fixed, etaz, phi, power: float = 1.5) -> None:
        """Conditional X beta + offset (REML: the offset), the zero-inflation linear
        predictor, the dispersion per observation, the tweedie power."""
        self.set_fixed(fixed)
        self.etaz = np.ascontiguousarray(etaz, dtype=np.float64)
        self.phi = np.ascontiguousarray(phi, dtype=np.float64)
        self.power = float(power)

    def _terms(self, eta):
        """(sum of w l, w dl/deta, -w d2l/deta2) at eta."""
        out = obs_loglik(self.family, self.link, self.trunc, self.has_zi, self.y, self.size, eta,
                         self.etaz, self.phi, self.power)
        return float(np.dot(self.pw, out[0])), self.pw * out[1], self.pw * out[2]

    def laplace(self, theta=None, u0=None, beta0=None) -> float:
        """-2 log L (REML: restricted, beta integrated out) at the installed
        parameters; inf off the family's domain. ``theta`` and ``u0`` are empty."""
        if not self.joint:
            self.eta = self.fixed.copy()
            ll, _, h = self._terms(self.eta)
            self.h = h
            self.status = 0
            return -2.0 * ll if np.isfinite(ll) else np.inf
        if beta0 is not None:
            self.beta = np.array(beta0, dtype=np.float64)
        return self._integrate_beta()

    def _integrate_beta(self) -> float:
        """Newton steps on beta to the mode of the log-likelihood, then the Laplace
        value there."""
        X = self.X
        beta = self.beta.copy()
        ll, g, h = self._terms(self.fixed + X @ beta)
        if not np.isfinite(ll):
            beta[:] = 0.0
            ll, g, h = self._terms(self.fixed + X @ beta)
            if not np.isfinite(ll):
                self.status = 30
                return np.inf
        self.status = 0
        for it in range(self.maxit):
            H = X.T @ (h[:, None] * X)
            try:
                step = np.linalg.solve(H, X.T @ g)
            except np.linalg.LinAlgError:
                self.status = 12
                return np.inf
            t, improved = 1.0, False
            for _ in range(40):
                bn = beta + t * step
                lln, gn, hn = self._terms(self.fixed + X @ bn)
                if np.isfinite(lln) and lln >= ll - 1e-12 * abs(ll):
                    improved = True
                    break
                t *= 0.5
            if not improved:
                break
            small = np.max(np.abs(bn - beta)) / (1.0 + np.max(np.abs(beta))) < 1e-12
            beta, ll, g, h = bn, lln, gn, hn
            self.iterations = it + 1
            if small:
                break
        H = X.T @ (h[:, None] * X)
        try:
            R = np.linalg.cholesky(H).T
        except np.linalg.LinAlgError:
            self.status = 11
            return np.inf
        self.beta, self.eta, self.h, self.RX = beta, self.fixed + X @ beta, h, R
        logdet = 2.0 * float(np.sum(np.log(np.diag(R))))
        return -2.0 * ll + logdet - self.p * np.log(2.0 * np.pi)

    # ---- what the compiled state exposes ----------------------------------------------
    @property
    def status_code(self) -> int:
        return self.status

    @property
    def u_vec(self) -> np.ndarray:
        return np.zeros(0)

    @property
    def b_vec(self) -> np.ndarray:
        return np.zeros(0)

    @property
    def beta_vec(self) -> np.ndarray:
        return self.beta.copy()

    @property
    def eta_vec(self) -> np.ndarray:
        return (self.fixed + self.X @ self.beta if self.joint else self.fixed).copy()

    @property
    def hess_weights(self) -> np.ndarray:
        """D at the current state (observed information per observation)."""
        return self.h.copy()
