"""A fitted linear mixed model (lme4's lmerMod)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from ..inference.table import AnovaTable
from functools import cached_property

import numpy as np
import pandas as pd

from ..report.rformat import coef_lines, r_round_format
from ..report.summary import Section, Summary, formula_lines, stats_section
from .base import MixedModelResult


class LMMResult(MixedModelResult):
    """A fitted linear mixed model (lme4's lmerMod).

    Attributes follow lme4's accessors: ``fixef``, ``theta``, ``sigma``,
    ``objective`` (REML criterion or deviance), ``loglik``, ``aic``, ``bic``,
    ``deviance``, ``nobs``, ``ngrps``, ``vcov``, ``varcorr``, ``ranef``,
    ``coef``, ``fitted``; methods ``residuals``, ``predict``, ``simulate``,
    ``refit``, ``update``, ``summary``, ``condvar``.
    """

    is_linear = True

    def __init__(self, model: Any, theta: ArrayLike, opt: Any = None, messages: Any = (),
                 objective: float | None = None) -> None:
        self.model = model
        self.theta = np.asarray(theta, dtype=np.float64).copy()
        self.opt = opt
        self.messages = list(messages)
        self.REML = model.REML
        core = model.core
        # objective given: the core was evaluated at theta last (the compiled fit's end),
        # its state is theta's; else the core is moved there
        self.objective = float(model.objective(self.theta) if objective is None else objective)
        self.beta = core.solve_fixed()
        self.u = core.solve_u(self.beta)
        self.b = core.Lambdat_apply(self.u)
        self.pwrss = float(core.pwrss)
        self.RX = core.RX
        self.logdetL = float(core.logdetL)
        n, p = model.n, model.p
        self.sigma = float(np.sqrt(self.pwrss / (n - p if self.REML else n)))

    def __reduce__(self):
        # the compiled core cannot be pickled: the model rebuilds it, and the result is
        # recomputed at its theta (process-based parallel bootstrap, saving fits)
        return (type(self), (self.model, self.theta, self.opt, self.messages))

    def _core_at_optimum(self):
        core = self.model.core
        core.set_theta(self.theta)
        core.update()
        return core

    def _vcov_matrix(self):
        return self._vcov_from_RX(self.RX)

    @property
    def df(self) -> int:
        """Number of parameters: fixed effects, theta, and sigma."""
        return self.model.p + self.re.ntheta + 1

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (ML fits); for REML fits the REML criterion, as lme4's deviance()."""
        return self.objective

    @cached_property
    def ml_deviance(self) -> float:
        """The deviance (-2 ML log-likelihood) at these estimates, lme4's deviance(REML=FALSE)."""
        if not self.REML:
            return self.objective
        n = self.nobs
        return float(self.logdetL + n * (1 + np.log(2 * np.pi * self.pwrss / n)) - self.model.log_w)

    @property
    def REMLcrit(self) -> float:
        return self.objective

    @cached_property
    def fitted(self) -> np.ndarray:
        """Fitted values X beta + Z b + offset (NaN at rows na_action="na.exclude" dropped)."""
        return self._napredict(self._eta.copy())

    def residuals(self, type: Literal["response", "pearson", "working", "deviance"] = "response",
                  scaled: bool = False) -> np.ndarray:
        """Residuals: ``"response"`` (default), ``"pearson"``, ``"working"``, ``"deviance"``; scaled divides by sigma."""
        r = self.model.y - self._eta
        if type in ("pearson", "deviance") and self.model.weights is not None:
            r = r * np.sqrt(self.model.weights)
        elif type not in ("response", "working", "pearson", "deviance"):
            raise ValueError(f"unknown residual type {type!r}; use 'response', 'pearson', 'working' or 'deviance'")
        return self._napredict(r / self.sigma if scaled else r)

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False, *,
                se_fit: bool = False, interval: Literal["confidence", "prediction"] | None = None,
                level: float = 0.95) -> np.ndarray | pd.DataFrame:
        """Predictions, as lme4's predict(): all random effects (re_form=None) or none (re_form='~0' / NA).

        New levels of a grouping factor predict at the population level (random
        effect 0) with ``allow_new_levels=True``, an error otherwise. With
        ``se_fit=True`` or ``interval="confidence" | "prediction"``, a DataFrame with
        ``fit``, ``se_fit`` (and ``lwr``, ``upr``): see :func:`pymer.predict_se`.
        """
        if se_fit or interval is not None:
            from ..predictions import predict_se
            return predict_se(self, newdata, re_form, allow_new_levels, interval=interval, level=level)
        eta = self._linear_predictor(newdata, re_form, allow_new_levels)
        return self._napredict(eta) if newdata is None else eta

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's simulate): columns sim_1 ... sim_nsim."""
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
        from ..inference.bootsim import simulate_matrix
        rng = np.random.default_rng(seed)
        # one generator for all columns, each drawn in turn (random effects, then residuals)
        out = np.column_stack([simulate_matrix(self, [rng], use_u)[:, 0] for _ in range(nsim)])
        return pd.DataFrame(out, columns=[f"sim_{i + 1}" for i in range(nsim)])

    def refit(self, newresp: ArrayLike, **kwargs: Any) -> LMMResult:
        """Refit the same model to a new response vector (same rows), as lme4's refit()."""
        kwargs.setdefault("start", self.theta)
        return self.model.with_response(newresp).fit(**kwargs)

    def update(self, formula: str | None = None, data: Any = None, REML: bool | None = None,
               **kwargs: Any) -> MixedModelResult:
        """Refit with a changed formula, data or REML flag (as lme4's update())."""
        if self.model.call is None:
            raise ValueError("update() needs the call that made the fit: fit with pymer.lmer()")
        if REML is not None:
            kwargs["REML"] = REML
        return self.model.call.update(formula, data, **kwargs)()

    # ---- inference (pymer.inference, pymer.profile) ------------------------------
    def anova(self, *others: MixedModelResult, type: int | str = 3,
              ddf: str = "Satterthwaite", refit: bool = True,
              names: list[str] | None = None) -> AnovaTable:
        """F tests of the fixed-effect terms (lmerTest's anova), or with other models
        given, likelihood-ratio tests (lme4's anova): see :func:`pymer.inference.anova_ddf`
        and :func:`pymer.anova`."""
        from .. import inference
        if others:
            return inference.anova(self, *others, refit=refit, names=names)
        return inference.anova_ddf(self, type=type, ddf=ddf)

    # ---- summaries ------------------------------------------------------------
    @cached_property
    def _coef_table(self) -> pd.DataFrame:
        se = np.sqrt(np.diag(self._vcov_matrix()))
        return pd.DataFrame({"Estimate": self.beta, "Std. Error": se, "t value": self.beta / se},
                            index=self.fixef_names)

    def _header(self):
        # lme4 writes "fit by REML" and "fit by maximum likelihood " (a blank before [)
        crit = "REML" if self.REML else "maximum likelihood "
        lines = [f"Linear mixed model fit by {crit} ['lmerMod']"] + formula_lines(self.formula)
        name = getattr(self.model, "data_name", None)
        if name:
            lines.append(f"   Data: {name}")
        return lines

    def _stats_section(self, decimals=1) -> Section:
        """'REML criterion at convergence: ...' (REML fits) or the AIC row (ML fits), with
        the numbers rounded to `decimals` places: 1 in summaries (after a blank line),
        4 when printed."""
        lead = ("",) if decimals == 1 else ()
        if self.REML:
            return Section("stats", lead + (f"REML criterion at convergence: "
                                            f"{r_round_format(self.objective, decimals)}",))
        return stats_section(self.aic, self.bic, self.loglik, self.deviance, self.df_residual, decimals)

    def summary(self, ddf: str | None = None, correlation: bool = True) -> Summary:
        """lme4's summary(): header, scaled residuals, random effects, fixed effects, correlations."""
        if ddf is not None:
            from ..inference import summary_with_ddf
            return summary_with_ddf(self, ddf)
        table = self._coef_table.copy()
        return Summary(self._summary_sections(self._header(), self._stats_section(1), table,
                                              coef_lines(table, digits=4), correlation), table)
