"""glmmTMB models with random effects in ``ziformula``: the conditional model's frames
and fixed parameters as :class:`pymer.tmb.model.TMBModel` has them, plus the
zero-inflation model's random-effects terms, integrated jointly with the
conditional model's by :class:`pymer.tmb.joint_core.JointLaplace`.

Parameters, in the order of the objective's argument: conditional beta,
zero-inflation beta, dispersion beta, theta of the conditional terms, theta of
the zero-inflation terms (the tweedie family has no zeros to inflate). The
optimizer works on theta's diagonals on the log scale, as for the single-component
model, on the compiled gradient of the joint Laplace objective
(:meth:`pymer.tmb.joint_core.JointLaplace.gradient`); the Hessian (the standard
errors, as glmmTMB's sdreport) is central differences of that gradient, as
:meth:`pymer.tmb.model.TMBModel.derivatives` has it.
"""
from __future__ import annotations

from typing import Any
from numpy.typing import ArrayLike

import numpy as np
import pandas as pd

from ..call import ModelCall
from ..errors import FormulaError
from ..formula import parse_formula
from ..terms import RandomEffects
from .families import _NO_ZEROS, TMBFamily, family as get_tmb_family
from .joint_core import JointLaplace
from .joint_result import JointTMBResult
from .model import MODEL_EXTENSIONS, TMBModel


def _rhs(formula: Any) -> str:
    if not isinstance(formula, str) or not formula.strip().startswith("~"):
        raise FormulaError(f"ziformula must be a one-sided formula string such as '~1', not {formula!r}")
    return formula.strip()[1:].strip()


def zi_has_random(ziformula: Any) -> bool:
    """Whether a ziformula has random-effects terms (``(1 | site)``)."""
    return isinstance(ziformula, str) and "|" in ziformula


def _subset(x: Any, rows: np.ndarray) -> Any:
    if x is None or isinstance(x, str):
        return x
    return np.asarray(x)[rows]


class JointTMBModel(TMBModel):
    """A glmmTMB model whose zero-inflation formula has random effects (see the module
    docstring); fitted by :meth:`fit` to a :class:`JointTMBResult`."""

    @staticmethod
    def handles(ziformula: Any, dispformula: Any) -> bool:
        """Whether this class fits the model (random effects in ziformula)."""
        return zi_has_random(ziformula)

    def __init__(self, formula: str, data: Any, family: str | TMBFamily, ziformula: str = "~0",
                 dispformula: str = "~1", REML: bool = False, weights: str | ArrayLike | None = None,
                 offset: str | ArrayLike | None = None, call: ModelCall | None = None) -> None:
        self._joint_ready = False
        fam = get_tmb_family(family)
        if REML:
            raise ValueError("REML=True is for the gaussian family's models without zero inflation; "
                             f"ziformula {ziformula!r} has random effects")
        if fam.base in _NO_ZEROS:
            raise ValueError(f"ziformula {ziformula!r}: the {fam.name} family has no zeros to inflate "
                             "(its response is > 0); use ziformula='~0'")
        zi_rhs = _rhs(ziformula)
        if not isinstance(data, pd.DataFrame):
            data = pd.DataFrame(data)
        mf = parse_formula(formula, data, weights=weights, offset=offset, require_random=False)
        resp = mf.response_name
        zf = parse_formula(f"{resp} ~ {zi_rhs}", data, require_random=False)
        rows = np.intersect1d(mf.rows, zf.rows)
        if rows.shape[0] != len(data):
            # glmmTMB drops a row with a missing value in any of the formulas
            data = data.iloc[rows]
            weights, offset = _subset(weights, rows), _subset(offset, rows)
            zf = parse_formula(f"{resp} ~ {zi_rhs}", data, require_random=False)
        parts = list(zf.term_labels)
        has_int = "(Intercept)" in zf.fixef_names
        fixed_rhs = " + ".join(parts) if parts else ("1" if has_int else "0")
        if parts and not has_int:
            fixed_rhs = "0 + " + fixed_rhs
        super().__init__(formula, data, fam, "~" + fixed_rhs, dispformula, REML, weights, offset, call=call)
        if self.n != len(data):
            raise FormulaError("random effects in ziformula: a row with a missing value in the "
                               "dispersion formula's variables (drop it from the data first)")
        # the zero model is there even when its fixed part is ~0
        self.has_zi = True
        self.ziformula = "~" + zi_rhs
        self.zf = zf
        self.zre = RandomEffects.from_formula_terms(zf.random, self.n)
        self.nt_cond = self.re.ntheta
        self.nt = self.nt_cond + self.zre.ntheta
        sizes = [self.p, self.pz, self.pd, self.nt, self.n_extra]
        ends = np.cumsum(sizes)
        self._slices = [slice(int(e - s), int(e)) for s, e in zip(sizes, ends)]
        lower = np.concatenate([self.re.lower_bounds(), self.zre.lower_bounds()])
        self._logged = int(ends[2]) + np.flatnonzero(lower == 0)
        self._joint_ready = True
        self._build_core()

    @property
    def has_analytic_gradient(self) -> bool:
        """The joint core's gradient is compiled (:meth:`JointLaplace.gradient`)."""
        return True

    def _build_core(self) -> None:
        """The joint Laplace state (the conditional model's and the zero model's random
        effects); none before the zero model's terms are known (the parent's
        constructor calls this first)."""
        fam = self.family
        self._u_warm = None
        self._beta_warm = None
        self._rest = None
        self._analytic = True
        self._pattern = False
        self.pls = None
        self.lap = None
        if self._joint_ready:
            self.lap = JointLaplace(self.y, self.size, self.pw, fam.code, fam.link_code, fam.truncated,
                                    [self.re, self.zre], (self.X, self.Xzi, self.Xd), has_zi=True)

    def _gradient_at_mode(self, par: np.ndarray) -> np.ndarray | None:
        """The compiled gradient at the state the last objective() left (at `par`)."""
        return self.lap.gradient(self.n_extra == 1)

    def start(self) -> np.ndarray:
        """The parent's starting values (a GLM's fixed effects, no zero inflation) and
        identity covariance factors for the zero model's terms."""
        s = super().start()
        o = self._slices[3].start + self.nt_cond
        return np.concatenate([s[:o], self.zre.theta_start(), s[o:]])

    def fit(self, start: ArrayLike | None = None, control: dict | None = None) -> JointTMBResult:
        """Fit as :meth:`TMBModel.fit` (same checks and warnings); the result also has
        the zero-inflation model's random effects."""
        res = super().fit(start=start, control=control)
        return JointTMBResult(self, self.to_opt(res.par), res.objective, res.grad, res.hess, res.messages)


# glmmtmb() fits models with random effects in ziformula with this class
MODEL_EXTENSIONS.append(JointTMBModel)
