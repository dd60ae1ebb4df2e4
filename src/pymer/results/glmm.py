"""A fitted generalized linear mixed model (lme4's glmerMod)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from ..inference.table import AnovaTable
from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, warn
from ..families import glm_residuals
from ..report.rformat import coef_lines, r_round_format
from ..report.summary import AGQ_LOGLIK_NOTE, Section, Summary, formula_lines, stats_section
from .base import MixedModelResult


class GLMMResult(MixedModelResult):
    """A fitted GLMM (lme4's glmerMod): the LMM accessors with GLMM meanings."""

    def __init__(self, model: Any, par: np.ndarray, nAGQ: int, opt: Any, messages: Any,
                 hess: np.ndarray | None) -> None:
        self.model = model
        nt = model.re.ntheta
        self.nAGQ = int(nAGQ)
        self.opt = opt
        self.messages = list(messages)
        pir = model.pirls_joint if nAGQ == 0 else model.pirls_u
        self.theta = np.asarray(par[:nt], dtype=float).copy()
        self.beta = pir.beta_vec if nAGQ == 0 else np.asarray(par[nt:], dtype=float).copy()
        self.u = pir.u_vec
        self.b = pir.b_vec
        self.mu = pir.mu_vec
        self.eta_fitted = pir.eta_vec
        self.working_weights = pir.weights_vec
        self.objective = float(opt.fun if nAGQ > 0 else model.objective_nAGQ0(self.theta))
        self.devresid_sum = float(pir.devsum)
        self.laplace_ldL2 = float(pir.ldL2)
        self.usq = float(pir.usq)
        self._hess = hess
        self._RX = model.core_joint.RX if nAGQ == 0 else None
        self.family = model.family
        self.REML = False
        self.sigma = 1.0
        if self.family.has_dispersion:
            # lme4's sigma of a glmer fit: sqrt(penalized weighted RSS / n), the weighted
            # squared Pearson residuals plus ||u||^2 at the conditional mode
            r = (self.model.y - self.mu) * np.sqrt(self.model.pw / self._variance())
            usq = float(np.dot(self.u, self.u))
            self.sigma = float(np.sqrt((np.sum(r ** 2) + usq) / self.nobs))

    def _variance(self):
        _, _, var, _, _ = self.family.eval(self.eta_fitted, self.model.y, self.model.pw)
        return var

    @property
    def has_dispersion(self) -> bool:
        # Gamma, inverse Gaussian and gaussian GLMMs: VarCorr on the sigma^2 scale with a
        # Residual row, as lme4 prints them (and broom.mixed's sd__Observation)
        return bool(self.family.has_dispersion)

    def _core_at_optimum(self):
        core = self.model.core_u
        self.model.pirls_u.laplace(self.theta, self.beta, self.u)
        return core

    def _vcov_matrix(self):
        """lme4's vcov of a glmer fit: 2 H^-1 in the beta block, H the Hessian of the
        deviance in (theta, beta), so that the uncertainty of theta counts. Falls back
        (with lme4's warning) to R_X at the mode when H^-1 is not positive definite."""
        V = getattr(self, "_vcov_cache", None)
        if V is None:
            V = self._vcov_cache = self._compute_vcov()
        return V.copy()

    def _compute_vcov(self):
        nt = self.model.re.ntheta
        if self._hess is not None and self.nAGQ > 0:
            H = (self._hess + self._hess.T) / 2.0
            V = None
            if np.all(np.isfinite(H)):
                try:
                    V = 2.0 * np.linalg.inv(H)[nt:, nt:]
                except np.linalg.LinAlgError:
                    V = None
            if V is not None and np.all(np.linalg.eigvalsh((V + V.T) / 2) > 0):
                return (V + V.T) / 2
            warn("variance-covariance matrix computed from finite-difference Hessian is\n"
                 "not positive definite or contains NA values: falling back to var-cov estimated from RX",
                 ConvergenceWarning)
        RX = self._RX if self._RX is not None else self.model.RX_at(self.theta, self.beta, self.u)
        return self._vcov_from_RX(RX)

    @property
    def df(self) -> int:
        # an estimated dispersion, or glmer.nb's theta, counts as a parameter (as lme4 counts it)
        extra = 1 if (self.family.has_dispersion or self.family.name == "negative.binomial") else 0
        return self.model.p + self.re.ntheta + extra

    @property
    def deviance(self) -> float:
        """lme4's deviance() of a glmer fit: the sum of the deviance residuals at the mode."""
        return self.devresid_sum

    @cached_property
    def fitted(self) -> np.ndarray:
        """Fitted means mu (the response scale), as lme4's fitted() (NaN at rows
        na_action="na.exclude" dropped)."""
        return self._napredict(self.mu.copy())

    def residuals(self, type: Literal["deviance", "pearson", "working", "response"] = "deviance",
                  scaled: bool = False) -> np.ndarray:
        """Residuals: "deviance" (default), "pearson", "working" or "response"."""
        y, mu, pw = self.model.y, self.mu, self.model.pw
        mu_, me, var, dr, _ = self.family.eval(self.eta_fitted, y, pw)
        r = glm_residuals(type, y, mu, pw, me, var, dr)
        return self._napredict(r / self.sigma if scaled else r)

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
                type: Literal["link", "response"] = "link", *, se_fit: bool = False,
                interval: Literal["confidence", "prediction"] | None = None,
                level: float = 0.95) -> np.ndarray | pd.DataFrame:
        """Predictions on the link scale (type="link") or the response scale (type="response").
        With ``se_fit=True`` or ``interval="confidence"``, a DataFrame with ``fit``,
        ``se_fit`` (link scale) and ``lwr``, ``upr``: see :func:`pymer.predict_se`."""
        if se_fit or interval is not None:
            from ..predictions import predict_se
            return predict_se(self, newdata, re_form, allow_new_levels, interval=interval or "confidence",
                              level=level, type=type)
        eta = self._linear_predictor(newdata, re_form, allow_new_levels)
        pad = self._napredict if newdata is None else (lambda v: v)
        if type == "link":
            return pad(eta)
        if type == "response":
            return pad(self.family.eval(eta, np.zeros_like(eta), np.ones_like(eta))[0])
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> pd.DataFrame:
        """Simulate responses from the fitted model (binomial: proportions times trials as counts)."""
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
        from ..inference.bootsim import simulate_matrix
        rng = np.random.default_rng(seed)
        # one generator for all columns, each drawn in turn (random effects, then response)
        out = np.column_stack([simulate_matrix(self, [rng], use_u)[:, 0] for _ in range(nsim)])
        return pd.DataFrame(out, columns=[f"sim_{i + 1}" for i in range(nsim)])

    # ---- refitting (lme4's refit and update) ---------------------------------------
    def refit(self, newresp: ArrayLike, **kwargs: Any) -> GLMMResult:
        """Refit the model to a new response (same rows and design), as lme4's refit().

        Parameters
        ----------
        newresp : array_like
            One value per observation (for binomial models proportions, as
            :meth:`simulate` returns them, or (successes, failures) counts).
        **kwargs
            Passed to the fit (``start`` defaults to this fit's theta). A
            negative binomial fit keeps its theta, as lme4's refit does.

        Returns
        -------
        GLMMResult
        """
        model = self.model.with_response(newresp)
        kwargs.setdefault("start", self.theta)
        kwargs.setdefault("optimizer", getattr(self.opt, "optimizer", "bobyqa"))
        return model.fit(nAGQ=self.nAGQ, **kwargs)

    def update(self, formula: str | None = None, data: Any = None, *, family: Any = None,
               nAGQ: int | None = None, REML: bool | None = None, **kwargs: Any) -> MixedModelResult:
        """Refit with a changed formula (R's ``. ~ . - x`` forms work), data, family or
        nAGQ, as lme4's update(). A glmer_nb fit is refitted by :func:`glmer_nb`.

        ``REML`` is accepted for symmetry with linear models (drop1 and anova pass
        ``REML=False``); a GLMM is always fitted by maximum likelihood.
        """
        if REML:
            raise ValueError("REML=True is not available for a GLMM: glmer fits by maximum likelihood")
        return self.model.updated_call(formula, data, family=family, nAGQ=nAGQ, **kwargs)()

    # ---- inference (pymer.inference) ---------------------------------------------
    def anova(self, *others: MixedModelResult, refit: bool = True, names: list[str] | None = None) -> AnovaTable:
        """Likelihood-ratio tests against other fits of the same data, as lme4's
        ``anova(m1, m2, ...)``: see :func:`pymer.anova`."""
        from .. import inference
        if not others:
            raise ValueError("anova() of a GLMM compares it with other fitted models (likelihood-ratio "
                             "tests); F tests of the fixed effects are for linear mixed models")
        return inference.anova(self, *others, refit=refit, names=names)

    # ---- text -----------------------------------------------------------------
    @cached_property
    def _coef_table(self):
        from scipy import stats      # here: the first fit does not import scipy.stats
        se = np.sqrt(np.diag(self._vcov_matrix()))
        z = self.beta / se
        if self.family.has_dispersion:
            return pd.DataFrame({"Estimate": self.beta, "Std. Error": se, "t value": z,
                                 "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=self.fixef_names)
        return pd.DataFrame({"Estimate": self.beta, "Std. Error": se, "z value": z,
                             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=self.fixef_names)

    def _family_label(self) -> str:
        fam = self.family
        if fam.name == "negative.binomial":
            # MASS's family name: theta rounded to 4 decimals, as R prints a number
            return f"Negative Binomial({r_round_format(fam.theta, 4)})"
        return fam.name

    def _header(self):
        if self.nAGQ == 1:
            title = ["Generalized linear mixed model fit by maximum likelihood (Laplace",
                     "  Approximation) [glmerMod]"]
        else:
            title = ["Generalized linear mixed model fit by maximum likelihood (Adaptive",
                     f"  Gauss-Hermite Quadrature, nAGQ = {self.nAGQ}) [glmerMod]"]
        lines = title + [f" Family: {self._family_label()}  ( {self.family.link} )"]
        lines += formula_lines(self.formula)
        name = getattr(self.model, "data_name", None)
        if name:
            lines.append(f"   Data: {name}")
        return lines

    def _stats_section(self, decimals=1):
        """lme4's AIC row; its deviance column is -2 logLik (not deviance())."""
        return stats_section(self.aic, self.bic, self.loglik, -2 * self.loglik, self.df_residual, decimals)

    def summary(self, correlation: bool = True) -> Summary:
        """lme4's summary() of a glmer fit, as ``print(summary(fit))`` shows it."""
        table = self._coef_table.copy()
        sections = self._summary_sections(self._header(), self._stats_section(1), table,
                                          coef_lines(table, digits=4), correlation)
        if self.nAGQ > 1:
            sections.append(Section("messages", AGQ_LOGLIK_NOTE))
        return Summary(sections, table)
