"""The Laplace approximation of a glmmTMB model with random effects in the conditional
and the zero-inflation model: one joint vector u = [u_cond, u_zi] (b = Lambda u,
u ~ N(0, I), Lambda block diagonal over the components' terms).

    -2 log L ~= -2 sum_i w_i l_i(eta_c, eta_z) + ||u||^2 + log|H|,   H = A' W A + I,

A = Z Lambda (row i: the entries of both components), W_i the 2 x 2 block of minus
the second derivatives of l_i in (eta_c, eta_z). The mode (damped Newton steps on a
dense Cholesky factor of H), log|H| and the gradient of the objective in all fixed
parameters (the envelope theorem at the mode) are compiled
(:mod:`pymer._core._tmb_joint_laplace`, :mod:`pymer._core._tmb_joint_grad`, without the
GIL); this class lays out Z and theta for them.

The interface is that of the single-component core (:class:`pymer._core._tmb.TMBLaplace`:
``set_fixed``, ``set_parameters``, ``laplace``, ``u_vec``, ``b_vec``), so that
:class:`pymer.tmb.model.TMBModel`'s objective drives it unchanged.
"""
from __future__ import annotations

import numpy as np

from .._core._tmb_joint_grad import joint_gradient
from .._core._tmb_joint_laplace import JointCore
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
    designs : tuple of three (n, p) arrays
        The conditional, zero-inflation and dispersion fixed-effects designs (for
        :meth:`gradient`).
    has_zi : bool
        Whether the model has a zero-inflation (or hurdle) part.
    """

    def __init__(self, y, size, prior_weights, family: int, link: int, trunc: bool,
                 components: list[RandomEffects], designs: tuple, has_zi: bool = True) -> None:
        self.components = components
        self.qs = [r.q for r in components]
        self.q = int(sum(self.qs))
        if self.q > MAX_Q:
            raise NotImplementedError(
                f"the model has {self.q} random effects in all; pymer's joint Laplace core (random "
                f"effects in ziformula) takes at most {MAX_Q} (a dense Hessian)")
        self.nthetas = [r.ntheta for r in components]
        n = np.asarray(y).shape[0]
        cols: list[np.ndarray] = []
        zx: list[np.ndarray] = []
        comp: list[int] = []
        slot_term: list[int] = []
        slot_c: list[int] = []
        term_k: list[int] = []
        term_slot: list[int] = []
        term_toff: list[int] = []
        qoff, toff = 0, 0
        for c, r in enumerate(components):
            if r.q:
                zc, zv = r.zrows()
                cols.append(zc + qoff)
                zx.append(zv)
                for t, to in zip(r.terms, r.theta_offsets):
                    term_slot.append(len(comp))
                    term_toff.append(toff + int(to))
                    term_k.append(t.k)
                    comp += [c] * t.k
                    slot_term += [len(term_k) - 1] * t.k
                    slot_c += list(range(t.k))
            qoff += r.q
            toff += r.ntheta
        self.core = JointCore(y, size, prior_weights, family, link, trunc, has_zi,
                              np.hstack(cols) if cols else np.zeros((n, 0), np.int64),
                              np.hstack(zx) if zx else np.zeros((n, 0)),
                              comp, slot_term, slot_c, term_k, term_slot, term_toff, self.q, toff)
        self.designs = tuple(np.ascontiguousarray(X, dtype=np.float64) for X in designs)
        self.set_fixed = self.core.set_fixed
        self.set_parameters = self.core.set_parameters

    def laplace(self, theta, u0=None, beta0=None) -> float:
        """-2 log L by Laplace at theta (all components' covariance factors, the
        conditional model's first), from u0 (default: the last mode); inf where the
        mode or a positive definite H cannot be found. ``beta0`` is unused (the
        fixed effects are outside the mode)."""
        return self.core.laplace(theta, u0)

    def gradient(self, tweedie: bool = False) -> np.ndarray | None:
        """The gradient of :meth:`laplace`'s value in (beta, betazi, betad, theta[, psi])
        at the last finite evaluation; None where it is not finite."""
        return joint_gradient(self.core, *self.designs, tweedie)

    # ---- the state's vectors -------------------------------------------------------
    @property
    def theta(self) -> np.ndarray:
        return self.core.theta_vec

    @property
    def u_vec(self) -> np.ndarray:
        return self.core.u_vec

    @property
    def b_vec(self) -> np.ndarray:
        """b = Lambda u, all components (the conditional model's first)."""
        out, qo, to = [], 0, 0
        u, theta = self.core.u_vec, self.theta
        for r, nt in zip(self.components, self.nthetas):
            out.append(r.Lambda(theta[to:to + nt]) @ u[qo:qo + r.q] if r.q else np.zeros(0))
            qo += r.q
            to += nt
        return np.concatenate(out) if out else np.zeros(0)

    @property
    def eta_vec(self) -> np.ndarray:
        return self.core.eta_vec

    @property
    def etaz_vec(self) -> np.ndarray:
        return self.core.etaz_vec

    @property
    def status_code(self) -> int:
        return self.core.status_code

    @property
    def iterations(self) -> int:
        return self.core.iterations
