"""Gaussian glmmTMB models with ``dispformula="~0"`` and random effects: the fit of
:class:`pymer.tmb.model.TMBModel`, polished by a derivative-free search where the
gradient search stalls.

The residual variance is fixed at 1.5e-8 (glmmTMB's ``zero_dispval``), so
H = Lambda'Z'Z Lambda / 1.5e-8 + I has entries ~1e11 on a response on the scale
of hundreds (sleepstudy's Reaction) and a condition number ~1e12: log|H| loses
digits in the Schur complements of its Cholesky factor, and the objective is
noisy at ~5e-4 in the random-effects SDs. Its differences (and the compiled
gradient's H^-1 terms, with the same cancellation) then point nowhere, and
L-BFGS-B stops short (sleepstudy with an observation-level random effect:
log-likelihood -897.478 where glmmTMB, on the exact gradient of TMB's automatic
differentiation, gets -897.039). Nelder-Mead, which needs no derivatives, walks
the noisy objective to the optimum; the better of the two fits is kept, its
Hessian (the standard errors) from differences with a step far above the noise.
"""
from __future__ import annotations

from typing import Any
from numpy.typing import ArrayLike

import numpy as np
from scipy import optimize as sopt

from ..numdiff import finite_diff_derivs
from .model import MODEL_EXTENSIONS, TMBModel

# Nelder-Mead's evaluation budget and tolerances (on the optimizer's scale; the objective
# is noisy at ~5e-4)
_NM_MAXFEV = 3000
_NM_XATOL = 1e-4
_NM_FATOL = 1e-3
# the step of the Hessian's differences there: far above the objective's noise (the
# objective is quadratic in the fixed effects, smooth in the log-SDs at this scale)
_HESS_STEP = 0.05


class ZeroDispersionModel(TMBModel):
    """A glmmTMB model with ``dispformula="~0"`` (see the module docstring); other
    families and models without random effects fit as :class:`TMBModel` fits them."""

    @staticmethod
    def handles(ziformula: Any, dispformula: Any) -> bool:
        """Whether the dispersion formula is ``~0``."""
        return isinstance(dispformula, str) and dispformula.replace(" ", "") in ("~0", "~-1")

    @property
    def _noisy(self) -> bool:
        """A gaussian model whose random effects carry the residual variance."""
        return self.family.base == "gaussian" and self.disp_zero and self.has_re and not self.REML

    def optimize(self, start: ArrayLike | None = None,
                 control: dict | None = None) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, list[str]]:
        """:meth:`TMBModel.optimize`; when the gradient search did not converge cleanly
        on a gaussian model with random effects, a Nelder-Mead search from its end
        point (kept when better)."""
        best = super().optimize(start=start, control=control)
        if not self._noisy:
            return best
        x, f, messages = best[0], best[1], list(best[4])
        if messages:
            scale = self._opt_scale()
            res = sopt.minimize(lambda y: self.objective_z(y / scale), x * scale,
                                method="Nelder-Mead",
                                options={"maxfev": _NM_MAXFEV, "xatol": _NM_XATOL,
                                         "fatol": _NM_FATOL, "adaptive": True})
            xn = res.x / scale
            fn = self.objective_z(xn)
            if fn < f:
                x, f = xn, fn
                messages = [m for m in messages if not m.startswith("optimizer:")]
                if not res.success:
                    messages.append(f"optimizer (Nelder-Mead after L-BFGS-B): {res.message}")
        # the Hessian (the standard errors) from differences far above the objective's
        # noise, whichever search ended the fit: the gradient's own differences (step
        # 1e-4) carry the noise into the SEs (3% off on sleepstudy's scale)
        self._u_warm = None
        g, H = finite_diff_derivs(self.objective_z, x, delta=_HESS_STEP)
        self.objective_z(x)
        return x, f, g, H, messages


# glmmtmb() fits models with dispformula ~0 with this class
MODEL_EXTENSIONS.append(ZeroDispersionModel)
