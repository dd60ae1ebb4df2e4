"""The Laplace approximation of a glmmTMB model with random effects in the conditional
and the zero-inflation model: one joint vector u = [u_cond, u_zi] (b = Lambda u,
u ~ N(0, I), Lambda block diagonal over the components' terms).

    -2 log L ~= -2 sum_i w_i l_i(eta_c, eta_z) + ||u||^2 + log|H|,   H = A' W A + I,

A = Z Lambda (row i: the entries of both components), W_i the 2 x 2 block of minus
the second derivatives of l_i in (eta_c, eta_z). The mode is found by damped Newton
steps on the penalized log-density (an indefinite Hessian is replaced by its
absolute eigenvalues for the step); log|H| is that of the observed information at
the mode, from a dense Cholesky factor (the models this core takes have at most
:data:`MAX_Q` random effects in all). The per-observation loops (linear
predictors, log-densities, A'g and A'WA) are compiled
(:mod:`pymer._core._tmb_joint`, without the GIL).

The interface is that of the single-component core (:class:`pymer._core._tmb.TMBLaplace`:
``set_fixed``, ``set_parameters``, ``laplace``, ``u_vec``, ``b_vec``), so that
:class:`pymer.tmb.model.TMBModel`'s objective drives it unchanged.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from .._core._tmb_joint import joint_constants, joint_evaluate
from ..terms import RandomEffects

# the largest joint random-effects vector the dense Hessian takes
MAX_Q = 2000


class JointLaplace:
    """Laplace state over the joint random effects of the conditional and the
    zero-inflation model.

    Parameters
    ----------
    y, size, prior_weights : (n,) arrays
    family, link : int
        Compiled family and link codes.
    trunc : bool
        A truncated (hurdle) family.
    components : list of RandomEffects
        The conditional model's random effects (possibly none) and the
        zero-inflation model's, in that order (only the conditional model's
        without zero inflation).
    has_zi : bool
        Whether the model has a zero-inflation (or hurdle) part.
    """

    def __init__(self, y, size, prior_weights, family: int, link: int, trunc: bool,
                 components: list[RandomEffects], has_zi: bool = True) -> None:
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n = n = self.y.shape[0]
        self.size = np.ascontiguousarray(size, dtype=np.float64)
        self.pw = np.ascontiguousarray(prior_weights, dtype=np.float64)
        self.family, self.link, self.trunc = int(family), int(link), bool(trunc)
        self.has_zi = bool(has_zi)
        self.components = components
        self.qs = [r.q for r in components]
        self.q = int(sum(self.qs))
        if self.q > MAX_Q:
            raise NotImplementedError(
                f"the model has {self.q} random effects in all; pymer's joint Laplace core (random "
                f"effects in ziformula) takes at most {MAX_Q} (a dense Hessian)")
        self.nthetas = [r.ntheta for r in components]
        cols, comp, self._blocks = [], [], []
        qoff, slot = 0, 0
        for c, r in enumerate(components):
            if r.q:
                zc, _zv = r.zrows()
                cols.append(zc + qoff)
                for t, off in zip(r.terms, r.col_offsets):
                    self._blocks.append((c, slot, t, int(off)))
                    slot += t.k
                comp += [c] * zc.shape[1]
            qoff += r.q
        self.cols = np.ascontiguousarray(np.hstack(cols) if cols else np.zeros((n, 0), np.int64),
                                         dtype=np.int64)
        self.comp = np.ascontiguousarray(comp, dtype=np.int32)
        self.vals = np.zeros(self.cols.shape, dtype=np.float64)
        self.fixed = np.zeros(n)
        self.etaz_fixed = np.zeros(n)
        self.phi = np.ones(n)
        self.power = 1.5
        self.cst = np.zeros(n)
        self.cst0 = np.zeros(n)
        self.etac = np.zeros(n)
        self.etaz = np.zeros(n)
        self.u = np.zeros(self.q)
        self.theta = np.zeros(sum(self.nthetas))
        self._grad = np.zeros(self.q)
        self._H = np.zeros((self.q, self.q))
        self.maxit = 200
        self.status = 0
        self.iterations = 0
        self.loglik_sum = 0.0
        self.logdet = 0.0

    # ---- the state -------------------------------------------------------------------
    def set_fixed(self, fixed) -> None:
        """Only the conditional model's fixed part of eta (the rest as it was)."""
        fixed = np.ascontiguousarray(fixed, dtype=np.float64)
        if fixed.shape[0] != self.n:
            raise ValueError(f"fixed needs {self.n} values")
        self.fixed = fixed.copy()

    def set_parameters(self, fixed, etaz, phi, power: float = 1.5) -> None:
        """Conditional X beta + offset, the zero-inflation model's fixed part, the
        dispersion per observation and the tweedie power."""
        self.set_fixed(fixed)
        self.etaz_fixed = np.ascontiguousarray(etaz, dtype=np.float64).copy()
        self.phi = np.ascontiguousarray(phi, dtype=np.float64).copy()
        self.power = float(power)
        joint_constants(self.family, self.trunc, self.y, self.size, self.phi, self.power, self.cst, self.cst0)

    def _set_theta(self, theta: np.ndarray) -> None:
        """A = Z Lambda's values: each term's rows of Z times its factor T."""
        self.theta = np.asarray(theta, dtype=np.float64).copy()
        facs, o = [], 0
        for r, nt in zip(self.components, self.nthetas):
            facs.append(r.factors(self.theta[o:o + nt]))
            o += nt
        for c, slot, t, _off in self._blocks:
            T = facs[c][self.components[c].terms.index(t)]
            self.vals[:, slot:slot + t.k] = t.X @ T

    def _eval(self, u: np.ndarray, derivs: bool) -> float:
        """The penalized objective -sum w l + ||u||^2 / 2 at u (inf off the domain);
        with ``derivs`` the log-likelihood's gradient and minus its Hessian into
        ``_grad`` and ``_H``."""
        ll = joint_evaluate(self.family, self.link, self.trunc, self.has_zi, self.y, self.size, self.pw, self.cst,
                            self.cst0, self.phi, self.power, self.fixed, self.etaz_fixed, self.cols,
                            self.vals, self.comp, u, self.etac, self.etaz, self._grad, self._H, derivs)
        if not np.isfinite(ll):
            return np.inf
        self.loglik_sum = ll
        return -ll + 0.5 * float(u @ u)

    def _newton_step(self, u: np.ndarray) -> tuple[np.ndarray, bool]:
        """The Newton step at u (after _eval with derivatives), and whether the
        Hessian was positive definite."""
        G = u - self._grad
        Hf = self._H + np.eye(self.q)
        try:
            c = linalg.cho_factor(Hf, lower=True, check_finite=False)
            return linalg.cho_solve(c, G, check_finite=False), True
        except linalg.LinAlgError:
            w, V = np.linalg.eigh(Hf)
            w = np.maximum(np.abs(w), 1e-8)
            return V @ ((V.T @ G) / w), False

    def _mode(self, u: np.ndarray) -> tuple[np.ndarray, float]:
        """Damped Newton steps to the mode from u; returns (u, objective)."""
        f = self._eval(u, True)
        if not np.isfinite(f) and np.any(u):
            u = np.zeros(self.q)
            f = self._eval(u, True)
        if not np.isfinite(f):
            self.status = 30
            return u, f
        self.status = 0
        for it in range(self.maxit):
            step, pos_def = self._newton_step(u)
            size = float(np.max(np.abs(step))) / (1.0 + float(np.max(np.abs(u))))
            if size < 1e-12 and pos_def:
                break
            t, improved = 1.0, False
            for _h in range(40):
                un = u - t * step
                fn = self._eval(un, False)
                if fn <= f + 1e-12 * abs(f):
                    improved = True
                    break
                t *= 0.5
            if not improved:
                self._eval(u, True)
                break
            u, f = un, fn
            self._eval(u, True)
            self.iterations = it + 1
            if size < 1e-8 and pos_def and t == 1.0:
                # a quadratically convergent step this small has landed on the mode
                break
        else:
            self.status = 1
        return u, f

    def laplace(self, theta, u0=None, beta0=None) -> float:
        """-2 log L by Laplace at theta (all components' covariance factors, the
        conditional model's first), from u0 (default: where the state is); inf where
        the mode or a positive definite H cannot be found."""
        self._set_theta(theta)
        u = self.u.copy() if u0 is None else np.array(u0, dtype=np.float64)
        if u.shape[0] != self.q:
            raise ValueError(f"u0 needs {self.q} values")
        u, f = self._mode(u)
        if not np.isfinite(f):
            return np.inf
        try:
            L = linalg.cholesky(self._H + np.eye(self.q), lower=True, check_finite=False)
        except linalg.LinAlgError:
            self.status = 12
            return np.inf
        self.u = u
        self.logdet = 2.0 * float(np.sum(np.log(np.diag(L))))
        return 2.0 * f + self.logdet

    # ---- the state's vectors -------------------------------------------------------
    @property
    def u_vec(self) -> np.ndarray:
        return self.u.copy()

    @property
    def b_vec(self) -> np.ndarray:
        """b = Lambda u, all components (the conditional model's first)."""
        out, qo, to = [], 0, 0
        for r, nt in zip(self.components, self.nthetas):
            out.append(r.Lambda(self.theta[to:to + nt]) @ self.u[qo:qo + r.q] if r.q else np.zeros(0))
            qo += r.q
            to += nt
        return np.concatenate(out) if out else np.zeros(0)

    @property
    def eta_vec(self) -> np.ndarray:
        return self.etac.copy()

    @property
    def etaz_vec(self) -> np.ndarray:
        return self.etaz.copy()

    @property
    def status_code(self) -> int:
        return self.status
