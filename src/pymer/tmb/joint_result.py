"""The fit of a glmmTMB model with random effects in ``ziformula``: everything a
:class:`pymer.tmb.result.TMBResult` has, plus the zero-inflation model's random
effects (their covariances, conditional modes, broom.mixed's ``zi`` rows) in
predictions, simulation and the printed summary."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ..terms import term_order
from .result import TMBResult, ran_pars_rows, ranef_frames, varcorr_rows


class JointTMBResult(TMBResult):
    """A glmmTMB fit with random effects in the zero-inflation model.

    Attributes
    ----------
    theta, theta_zi : ndarray
        Covariance factors of the conditional and the zero-inflation model's terms
        (lme4's layout, absolute).
    b, b_zi : ndarray
        Conditional modes of the two components' random effects.
    """

    def __init__(self, model: Any, x_opt: np.ndarray, objective: float, grad: np.ndarray,
                 hess: np.ndarray, messages: Any = ()) -> None:
        super().__init__(model, x_opt, objective, grad, hess, messages)
        full = self.theta
        self.theta = full[:model.nt_cond].copy()
        self.theta_zi = full[model.nt_cond:].copy()
        b = self.b
        self.b = b[:model.re.q].copy()
        self.b_zi = b[model.re.q:].copy()

    # ---- the zero model's random effects --------------------------------------------
    def zi_terms_covariances(self) -> list:
        """(term, covariance) of the zero-inflation model's terms in its formula's order."""
        m = self.model
        pairs = list(zip(m.zre.terms, [T @ T.T for T in m.zre.factors(self.theta_zi)]))
        if not pairs:
            return []
        order = term_order([len(t.levels) for t in m.zf.random])
        return [pairs[order.index(j)] for j in range(len(pairs))]

    @property
    def ngrps_zi(self) -> dict:
        """Number of levels per grouping factor of the zero-inflation model."""
        return {t.group: t.nlev for t, _S in self.zi_terms_covariances()}

    @property
    def varcorr_zi(self) -> pd.DataFrame:
        """The zero-inflation model's random effects as :attr:`varcorr` has the
        conditional model's (grp, var1, var2, vcov, sdcor)."""
        rows = varcorr_rows(self.zi_terms_covariances())
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    @property
    def ranef_zi(self) -> dict:
        """Conditional modes of the zero-inflation model's random effects (glmmTMB's
        ``ranef(fit)$zi``): per grouping factor a DataFrame (levels x columns)."""
        return ranef_frames(self.model.zre, self.b_zi)

    @property
    def is_singular(self) -> bool:
        """Whether a covariance of either component is on its boundary (an SD below 1e-4)."""
        zi = self.theta_zi[self.model.zre.lower_bounds() == 0]
        return bool(super().is_singular or np.any(np.abs(zi) < 1e-4))

    def _ran_pars_rows(self):
        return super()._ran_pars_rows() + ran_pars_rows(self.zi_terms_covariances(), "zi")

    def confint(self, level: float = 0.95, method: str = "wald", parm: str | int | list | None = None,
                estimate: bool = True) -> pd.DataFrame:
        """Wald intervals of every component's fixed effects (see :meth:`TMBResult.confint`);
        profile intervals are not available for these models."""
        if method in ("profile", "uniroot"):
            raise NotImplementedError("profile-likelihood intervals are not implemented for models with "
                                      "random effects in ziformula; use method='wald'")
        return super().confint(level=level, method=method, parm=parm, estimate=estimate)

    # ---- predictions and simulation ------------------------------------------------------
    def _zi_re_part(self, newdata, allow_new_levels: bool) -> np.ndarray:
        """Z_zi b_zi at the fitted rows or at newdata (new levels: 0)."""
        m = self.model
        if newdata is None:
            return m.zre.Z() @ self.b_zi
        nd = m.zf.new_data(newdata, include_random=True, allow_new_levels=allow_new_levels)
        n = nd.X.shape[0]
        order = sorted(range(len(m.zf.random)), key=lambda i: -len(m.zf.random[i].levels))
        out = np.zeros(n)
        for j, (t, off) in enumerate(zip(m.zre.terms, m.zre.col_offsets)):
            Xl, codes = nd.random[order[j]]
            ok = codes >= 0
            blk = self.b_zi[off:off + t.k * t.nlev].reshape(t.nlev, t.k)
            out[ok] += np.sum(np.asarray(Xl)[ok] * blk[codes[ok]], axis=1)
        return out

    def _components(self, newdata=None, allow_new_levels=False, re_form=None):
        """(eta, etaz, phi, size): the parent's, with the zero model's random effects."""
        eta, etaz, phi, size = super()._components(newdata, allow_new_levels, re_form)
        if etaz is None:
            etaz = np.zeros_like(eta)
        if re_form is None:
            etaz = etaz + self._zi_re_part(newdata, allow_new_levels)
        return eta, etaz, phi, size

    def _draw_many(self, rng, n_sim: int, conditional: bool) -> np.ndarray:
        """(n, n_sim) responses given the conditional modes of both components' random
        effects, or with new ones drawn from their fitted distributions."""
        if conditional:
            return super()._draw_many(rng, n_sim, conditional)
        m = self.model
        base = m.offset + m.X @ self.beta
        basez = m.Xzi @ self.betazi
        Zc = m.re.Z() @ m.re.Lambda(self.theta) if m.has_re else None
        Zz = m.zre.Z() @ m.zre.Lambda(self.theta_zi)
        phi, size = m.phi_of(self.betad), m.size
        out = np.empty((m.n, n_sim))
        for s in range(n_sim):
            e = base if Zc is None else base + Zc @ rng.standard_normal(m.re.q)
            pz = special.expit(basez + Zz @ rng.standard_normal(m.zre.q))
            out[:, s] = self._draw(rng, self.family.linkinv(e), phi, size, pz)
        return out
