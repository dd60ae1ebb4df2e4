"""The fitted glmmTMB model: estimates of every component, their covariance from
the Hessian of the Laplace objective, random effects, predictions, residuals
and simulation, with glmmTMB's names and scales."""
from __future__ import annotations

from typing import Any, Literal
from numpy.typing import ArrayLike
from ..call import ModelCall
from ..checking.residuals import SimulatedResiduals
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special, stats

from ..checking import simulate_residuals
from ..checking.simulate import ModelParts
from ..formula import drop_fixed_term
from ..report.tidy import tidy
from ..terms import term_order
from .families import ZERO_DISPERSION
from .profile import profile_confint
from .summary import summary_text

_PREDICT_TYPES = ("response", "link", "conditional", "zprob", "zlink", "disp")



def varcorr_rows(terms_covariances: list) -> list:
    """VarCorr's rows (grp, var1, var2, vcov, sdcor) of (term, covariance) pairs: each
    term's variances, then its covariances with their correlations."""
    rows: list = []
    for t, S in terms_covariances:
        sd = np.sqrt(np.diag(S))
        for i in range(t.k):
            rows.append((t.group, t.colnames[i], None, S[i, i], sd[i]))
        for i in range(t.k):
            for j in range(i + 1, t.k):
                c = S[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                rows.append((t.group, t.colnames[i], t.colnames[j], S[i, j], c))
    return rows



def ranef_frames(re: Any, b: np.ndarray) -> dict:
    """Conditional modes b of the random-effects terms ``re`` per grouping factor: a
    DataFrame (levels x the terms' columns; terms of one factor side by side)."""
    out: dict = {}
    for t, off in zip(re.terms, re.col_offsets):
        blk = b[off:off + t.k * t.nlev].reshape(t.nlev, t.k)
        df = pd.DataFrame(blk, index=pd.Index(t.levels, name=t.group), columns=t.colnames)
        out[t.group] = pd.concat([out[t.group], df], axis=1) if t.group in out else df
    return out


def ran_pars_rows(terms_covariances: list, component: str) -> list:
    """tidy()'s ran_pars rows of one model component (broom.mixed's sd__ and cor__
    terms), from :func:`varcorr_rows`."""
    return [("ran_pars", component, g, f"sd__{v1}" if v2 is None else f"cor__{v1}.{v2}", est,
             np.nan, np.nan, np.nan) for g, v1, v2, _vcov, est in varcorr_rows(terms_covariances)]

class TMBResult:
    """A glmmTMB fit (see :func:`pymer.glmmtmb`).

    Attributes
    ----------
    fixef, zi_fixef, disp_fixef : pandas.Series
        Fixed effects of the conditional, zero-inflation and dispersion models
        (empty Series when a component is absent), with R's names.
    theta : ndarray
        Random-effects covariance factors in lme4's layout (not relative to sigma).
    loglik, aic, bic, nobs, df_residual, objective
    """

    @property
    def formula(self) -> str:
        """The conditional model's formula (anova's model lines)."""
        return self.model.formula

    def __init__(self, model: Any, x_opt: np.ndarray, objective: float, grad: np.ndarray, hess: np.ndarray,
                 messages: Any = ()) -> None:
        self.model = model
        self.family = model.family
        par = model.from_opt(x_opt)
        self.par = par
        pr = model.unpack(par)
        model.objective(par)                 # the compiled state at the optimum
        lap = model.lap
        self.beta = lap.beta_vec if model.REML else pr["beta"].copy()
        self.betazi = pr["betazi"].copy()
        self.betad = pr["betad"].copy()
        self.theta = pr["theta"].copy()
        self.power = 1.0 + float(special.expit(pr["psi"][0])) if model.n_extra else None
        self.u = lap.u_vec
        self.b = lap.b_vec
        self.objective = float(objective)
        self.grad = np.asarray(grad)
        self.hess = np.asarray(hess)
        self.messages = list(messages)
        if model.REML:
            RX = np.asarray(model.pls.RX if model.has_re else lap.RX)
            self._RX = RX.copy()

    # ---- sizes and likelihood ---------------------------------------------------------
    @property
    def nobs(self) -> int:
        return self.model.n

    @property
    def df(self) -> int:
        """Number of estimated parameters (glmmTMB's logLik df)."""
        return self.model.npar + (self.model.p if self.model.REML else 0)

    @property
    def loglik(self) -> float:
        """Log-likelihood (REML fits: the restricted log-likelihood), as glmmTMB's logLik."""
        return -0.5 * self.objective

    @property
    def deviance(self) -> float:
        return self.objective

    @property
    def aic(self) -> float:
        return self.objective + 2.0 * self.df

    @property
    def bic(self) -> float:
        return self.objective + np.log(self.nobs) * self.df

    @property
    def df_residual(self) -> int:
        """nobs minus the parameters of the outer optimization (as glmmTMB, which for
        REML does not count the conditional fixed effects here)."""
        return self.nobs - self.model.npar

    @property
    def ngrps(self) -> dict:
        return {t.group: t.nlev for t, _S in self._terms_covariances()}

    def _terms_covariances(self):
        """(term, covariance) of the random-effects terms in the formula's order, as
        glmmTMB keeps them (lme4 puts terms with more levels first)."""
        m = self.model
        pairs = list(zip(m.re.terms, self._covariances()))
        if not pairs:
            return []
        order = term_order([len(t.levels) for t in m.mf.random])
        return [pairs[order.index(j)] for j in range(len(pairs))]

    # ---- estimates ----------------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=self.model.fixef_names, dtype=float)

    @property
    def REML(self) -> bool:
        """Whether fitted by REML (pymer.anova and drop1 refit such fits by ML first)."""
        return self.model.REML

    @property
    def fixef_names(self) -> list:
        """Names of the conditional model's fixed effects (R's)."""
        return list(self.model.fixef_names)

    @property
    def emmeans_df(self) -> int:
        """The degrees of freedom emmeans uses for a glmmTMB fit: df.residual."""
        return self.df_residual

    @property
    def zi_fixef(self) -> pd.Series:
        return pd.Series(self.betazi, index=self.model.zi_names, dtype=float)

    @property
    def disp_fixef(self) -> pd.Series:
        return pd.Series(self.betad, index=self.model.disp_names, dtype=float)

    @property
    def sigma(self) -> float:
        """glmmTMB's ``sigma()``: the dispersion parameter on the family's scale (nan when
        the dispersion model has covariates; 1 for families without one)."""
        m = self.model
        if not self.family.has_dispersion:
            return 1.0
        if m.disp_zero:
            return float(self.family.sigma(ZERO_DISPERSION))
        if m.disp_names != ["(Intercept)"]:
            return float("nan")
        return float(self.family.sigma(np.exp(self.betad[0])))

    @property
    def family_params(self) -> dict:
        """Extra family parameters (the tweedie power), as glmmTMB's ``family_params()``."""
        return {"Tweedie power": self.power} if self.power is not None else {}

    @cached_property
    def vcov_full(self) -> pd.DataFrame:
        """Covariance of all fixed effects: conditional, ``zi~``, ``d~`` (glmmTMB's
        ``vcov(full = TRUE)`` without its theta rows), from the Hessian of the Laplace
        objective (REML: the conditional block from R_X)."""
        m = self.model
        nb = 0 if m.REML else m.p
        k = nb + m.pz + m.pd
        try:
            Hinv = np.linalg.inv(self.hess)
        except np.linalg.LinAlgError:
            Hinv = np.linalg.pinv(self.hess)
        V = 2.0 * Hinv[:k, :k]
        if m.REML:
            Rinv = np.linalg.inv(self._RX)
            full = np.zeros((m.p + k, m.p + k))
            full[:m.p, :m.p] = Rinv @ Rinv.T
            full[m.p:, m.p:] = V
            V = full
        names = (list(m.fixef_names) + [f"zi~{x}" for x in m.zi_names]
                 + [f"d~{x}" for x in m.disp_names])
        return pd.DataFrame(V, index=names, columns=names)

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the conditional model's fixed effects."""
        p = self.model.p
        return self.vcov_full.iloc[:p, :p].copy()

    def coef_table(self, component: Literal["cond", "zi", "disp"] = "cond") -> pd.DataFrame:
        """Estimate, Std. Error, z value, Pr(>|z|) of one component ("cond", "zi", "disp")."""
        m = self.model
        est = {"cond": self.fixef, "zi": self.zi_fixef, "disp": self.disp_fixef}[component]
        off = {"cond": 0, "zi": m.p, "disp": m.p + m.pz}[component]
        se = np.sqrt(np.diag(self.vcov_full.to_numpy())[off:off + len(est)])
        z = est.to_numpy() / se
        return pd.DataFrame({"Estimate": est.to_numpy(), "Std. Error": se, "z value": z,
                             "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z))}, index=est.index)

    def confint(self, level: float = 0.95, method: str = "wald", parm: str | int | list | None = None,
                estimate: bool = True) -> pd.DataFrame:
        """Confidence intervals as glmmTMB's ``confint()``.

        Parameters
        ----------
        level : float
        method : {"wald", "profile", "uniroot"}
            "wald": the fixed effects of every component, named "cond.x", "zi.x",
            "disp.x" (the random-effects SDs are not included). "profile" and
            "uniroot": profile-likelihood intervals on glmmTMB's internal scale,
            named as glmmTMB names them ("(Intercept)", "zi~x", "d~x",
            "theta_1|site.1": a log SD), see :func:`pymer.tmb.profile.profile_confint`.
        parm : str, int or list, optional
            Profile methods: which parameters (names, 1-based positions, "beta_",
            "theta_", "disp_").
        estimate : bool
            Profile methods: add the estimates as a third column.
        """
        if method not in ("wald", "Wald", "profile", "uniroot"):
            raise ValueError(f"method must be 'wald', 'profile' or 'uniroot', not {method!r}")
        if method in ("profile", "uniroot"):
            return profile_confint(self, parm=parm, level=level, estimate=estimate)
        if parm is not None:
            raise ValueError("parm is for method='profile' or 'uniroot'")
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, not {level!r}")
        z = stats.norm.ppf(0.5 + level / 2)
        parts = []
        for comp in self._components_present():
            t = self.coef_table(comp)
            t.index = [f"{comp}.{x}" for x in t.index]
            parts.append(t)
        t = pd.concat(parts)
        lo, hi = f"{100 * (1 - level) / 2:g} %", f"{100 * (1 + level) / 2:g} %"
        return pd.DataFrame({lo: t["Estimate"] - z * t["Std. Error"], hi: t["Estimate"] + z * t["Std. Error"],
                             "Estimate": t["Estimate"]})

    def _components_present(self):
        m = self.model
        out = ["cond"]
        if m.has_zi:
            out.append("zi")
        if self.family.has_dispersion and m.disp_names not in (["(Intercept)"], []):
            out.append("disp")
        return out

    def tidy(self, effects: str | tuple[str, ...] | list[str] = ("fixed", "ran_pars"), conf_int: bool = False,
             conf_level: float = 0.95, **kwargs: Any) -> pd.DataFrame:
        """One row per estimate, as broom.mixed's tidy(): see :func:`pymer.tidy.tidy`."""
        return tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level, **kwargs)

    def tidy_table(self, effects: str | tuple[str, ...] | list[str] = ("fixed", "ran_pars"), conf_int: bool = False,
                   conf_level: float = 0.95, **kwargs: Any) -> pd.DataFrame:
        """broom.mixed's ``tidy()`` of a glmmTMB fit (what :func:`pymer.tidy.tidy` asks
        for): effect, component, group, term, estimate, std.error, statistic, p.value
        (and Wald conf.low, conf.high for fixed effects); random-effect SDs and
        correlations as ``ran_pars`` rows ("sd__(Intercept)", "cor__(Intercept).x")."""
        if isinstance(effects, str):
            effects = (effects,)
        bad = [e for e in effects if e not in ("fixed", "ran_pars")]
        if bad or not effects:
            raise ValueError(f"effects for a glmmtmb fit must be among 'fixed', 'ran_pars'; got {effects!r}")
        if kwargs:
            raise TypeError(f"tidy() of a glmmtmb fit takes no {', '.join(sorted(kwargs))} argument")
        if not 0 < conf_level < 1:
            raise ValueError(f"conf_level must be between 0 and 1, not {conf_level!r}")
        rows = []
        z = stats.norm.ppf(0.5 + conf_level / 2)
        for comp in self._components_present() if "fixed" in effects else ():
            t = self.coef_table(comp)
            for term, r in t.iterrows():
                rows.append(("fixed", comp, None, term, r["Estimate"], r["Std. Error"], r["z value"],
                             r["Pr(>|z|)"], r["Estimate"] - z * r["Std. Error"],
                             r["Estimate"] + z * r["Std. Error"]))
        if "ran_pars" in effects:
            rows += [r + (np.nan, np.nan) for r in self._ran_pars_rows()]
        cols = ["effect", "component", "group", "term", "estimate", "std.error", "statistic", "p.value",
                "conf.low", "conf.high"]
        out = pd.DataFrame(rows, columns=cols)
        out["group"] = out["group"].astype(object).where(out["group"].notna(), None)
        if not conf_int:
            out = out.drop(columns=["conf.low", "conf.high"])
        if tuple(effects) == ("fixed",) or not (out["effect"] == "ran_pars").any():
            # broom.mixed has no group column without random-effects rows
            out = out.drop(columns=["group"])
        return out

    def _ran_pars_rows(self):
        rows = ran_pars_rows(self._terms_covariances(), "cond")
        if self._residual_row:
            rows.append(("ran_pars", "cond", "Residual", "sd__Observation", self.sigma, np.nan, np.nan, np.nan))
        return rows

    @property
    def _residual_row(self) -> bool:
        """Whether VarCorr has glmmTMB's Residual row: a gaussian model with a constant,
        estimated dispersion."""
        return self.family.base == "gaussian" and not self.model.disp_zero and np.isfinite(self.sigma)

    @property
    def anova_model_line(self) -> str:
        """What anova() prints after the formula of a glmmTMB model: ", zi=~x, disp=~1"."""
        m = self.model
        return f", zi={m.ziformula if m.has_zi else '~0'}, disp={m.dispformula}"

    @property
    def is_singular(self) -> bool:
        """Whether a random-effects covariance is on its boundary (an SD below 1e-4)."""
        return bool(np.any(np.abs(self.theta[self.model.re.lower_bounds() == 0]) < 1e-4))

    def anova(self, other: TMBResult) -> pd.DataFrame:
        """Likelihood-ratio test against another glmmTMB fit of the same data, as
        glmmTMB's ``anova(m0, m1)``: the models ordered by their number of parameters."""
        if not isinstance(other, TMBResult):
            raise TypeError(f"anova() compares two glmmtmb fits, not a {type(other).__name__}")
        if other.nobs != self.nobs or not np.array_equal(other.model.y, self.model.y):
            raise ValueError("anova(): the two models were not fitted to the same responses")
        if self.model.REML or other.model.REML:
            raise ValueError("anova(): compare ML fits (REML=False)")
        a, b = sorted([self, other], key=lambda r: r.df)
        chisq = max(0.0, 2.0 * (b.loglik - a.loglik))
        ddf = b.df - a.df
        p = stats.chi2.sf(chisq, ddf) if ddf > 0 else np.nan
        return pd.DataFrame({"Df": [a.df, b.df], "AIC": [a.aic, b.aic], "BIC": [a.bic, b.bic],
                             "logLik": [a.loglik, b.loglik], "deviance": [a.deviance, b.deviance],
                             "Chisq": [np.nan, chisq], "Chi Df": [np.nan, ddf], "Pr(>Chisq)": [np.nan, p]},
                            index=["m0", "m1"])

    def drop1(self, test: str = "Chisq") -> pd.DataFrame:
        """Single-term deletions of the conditional model's fixed part, as glmmTMB's
        ``drop1(m, test = "Chisq")``: each term not contained in another is dropped
        and the model refitted; Df, AIC, LRT and Pr(>Chi)."""
        if test not in ("Chisq", "none"):
            raise ValueError(f"test must be 'Chisq' or 'none', not {test!r}")
        if self.model.REML:
            raise ValueError("drop1(): compare ML fits (REML=False)")
        labels = list(self.model.mf.term_labels)
        parts = [set(t.split(":")) for t in labels]
        scope = [t for t, v in zip(labels, parts) if not any(v < w for w in parts)]
        rows = [("<none>", np.nan, self.aic, np.nan, np.nan)]
        for term in scope:
            sub = self.update(formula=drop_fixed_term(self.model.formula, term))
            lrt = max(0.0, 2.0 * (self.loglik - sub.loglik))
            ddf = self.df - sub.df
            rows.append((term, ddf, sub.aic, lrt, stats.chi2.sf(lrt, ddf)))
        out = pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows],
                           columns=["Df", "AIC", "LRT", "Pr(>Chi)"])
        return out if test == "Chisq" else out[["Df", "AIC"]]

    # ---- refits ---------------------------------------------------------------------------
    @property
    def call(self) -> ModelCall | None:
        """The call that made the fit (:class:`pymer.call.ModelCall`)."""
        return self.model.call

    def update(self, formula: str | None = None, data: Any = None, **kwargs: Any) -> "TMBResult":
        """Refit with a changed formula (R's ``. ~ . - x`` forms), data or arguments
        (``ziformula``, ``dispformula``, ``family``, ``REML``, ...), as glmmTMB's
        ``update()`` re-evaluates the call."""
        return self.model.updated_call(formula, data, **kwargs)()

    def refit(self, newresp: ArrayLike, **kwargs: Any) -> "TMBResult":
        """Refit the same model to a new response (same rows; binomial families:
        proportions), started from this fit's parameters, as glmmTMB's ``refit()``."""
        kwargs.setdefault("start", self.par)
        return self.model.with_response(newresp).fit(**kwargs)

    # ---- random effects ---------------------------------------------------------------
    def _covariances(self):
        return [T @ T.T for T in self.model.re.factors(self.theta)]

    @property
    def varcorr(self) -> pd.DataFrame:
        """As lme4's ``as.data.frame(VarCorr())``: grp, var1, var2, vcov, sdcor (a
        Residual row for gaussian models with a constant dispersion)."""
        rows = varcorr_rows(self._terms_covariances())
        if self._residual_row:
            rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    @property
    def ranef(self) -> dict:
        """Conditional modes b per grouping factor: DataFrame (levels x terms' columns)."""
        return ranef_frames(self.model.re, self.b)

    # ---- predictions --------------------------------------------------------------------
    def _components(self, newdata=None, allow_new_levels=False, re_form=None):
        """(eta, etaz, phi, size) at the fitted rows or at newdata."""
        m = self.model
        use_re = re_form is None
        if re_form is not None and str(re_form).strip() not in ("NA", "~0", "0"):
            raise ValueError(f"re_form must be None (all random effects) or 'NA' (none), not {re_form!r}")
        if newdata is None:
            eta = m.offset + m.X @ self.beta
            if use_re and m.has_re:
                eta = eta + (m.re.Z() @ self.b)
            etaz = m.Xzi @ self.betazi if m.has_zi else None
            return eta, etaz, m.phi_of(self.betad), m.size
        nd = m.mf.new_data(newdata, include_random=use_re, allow_new_levels=allow_new_levels)
        keep = [m.mf.fixef_names.index(x) for x in m.fixef_names]
        X = nd.X[:, keep]
        n = X.shape[0]
        eta = X @ self.beta + (0.0 if nd.offset is None else nd.offset)
        if use_re:
            order = sorted(range(len(m.mf.random)), key=lambda i: -len(m.mf.random[i].levels))
            for j, (t, off) in enumerate(zip(m.re.terms, m.re.col_offsets)):
                Xl, codes = nd.random[order[j]]
                ok = codes >= 0
                blk = self.b[off:off + t.k * t.nlev].reshape(t.nlev, t.k)
                contrib = np.zeros(n)
                contrib[ok] = np.sum(np.asarray(Xl)[ok] * blk[codes[ok]], axis=1)
                eta = eta + contrib
        etaz = None
        if m.has_zi:
            zd = m.zf.new_data(newdata, include_random=False)
            etaz = zd.X[:, [m.zf.fixef_names.index(x) for x in m.zi_names]] @ self.betazi
        if self.family.has_dispersion and m.df is None:
            phi = m.phi_of(self.betad, np.ones((n, 1)))     # an intercept-only dispersion model
        elif self.family.has_dispersion:
            dd = m.df.new_data(newdata, include_random=False)
            phi = m.phi_of(self.betad, dd.X[:, [m.df.fixef_names.index(x) for x in m.disp_names]])
        else:
            phi = np.ones(n)
        return eta, etaz, phi, np.ones(n)

    def _p0(self, mu, phi):
        """Probability of a zero under the untruncated count family."""
        b = self.family.base
        if b == "poisson":
            return np.exp(-mu)
        if b == "nbinom2":
            return np.exp(phi * (np.log(phi) - np.log(phi + mu)))
        if b == "nbinom1":
            return np.exp(-(mu / phi) * np.log1p(phi))
        raise ValueError(b)

    def predict(self, newdata: Any = None, type: str = "response", re_form: Any = None,
                allow_new_levels: bool = False) -> np.ndarray:
        """Predictions as glmmTMB's ``predict(type = ...)``.

        Parameters
        ----------
        newdata : DataFrame, optional
            Default: the fitted rows.
        type : {"response", "link", "conditional", "zprob", "zlink", "disp"}
            "link": the conditional model's linear predictor; "conditional": its mean
            (of the truncated distribution for hurdle families); "zprob"/"zlink":
            the structural-zero probability and its logit; "disp": ``sigma()`` per
            observation; "response": the mean, (1 - zprob) x conditional.
        re_form : None or "NA"
            Include the random effects (None) or not ("NA").
        allow_new_levels : bool
            New grouping levels get random effects 0.
        """
        if type not in _PREDICT_TYPES:
            raise ValueError(f"type must be one of {', '.join(repr(t) for t in _PREDICT_TYPES)}; "
                             f"got {type!r}")
        eta, etaz, phi, _ = self._components(newdata, allow_new_levels, re_form)
        if type == "link":
            return eta
        if type == "zlink":
            return np.zeros_like(eta) if etaz is None else etaz
        pz = np.zeros_like(eta) if etaz is None else special.expit(etaz)
        if type == "zprob":
            return pz
        if type == "disp":
            return self.family.sigma(phi)
        mu = self.family.linkinv(eta)
        if self.family.truncated:
            mu = mu / (1.0 - self._p0(mu, phi))
        if type == "conditional":
            return mu
        return (1.0 - pz) * mu

    @property
    def fitted(self) -> np.ndarray:
        """Fitted means (glmmTMB's ``fitted()``: type "response"; binomial: proportions)."""
        return self.predict(type="response")

    def _y_scale(self):
        m = self.model
        return m.y / m.size if self.family.binomial_like else m.y

    def residuals(self, type: str = "response") -> np.ndarray:
        """Response or Pearson residuals, as glmmTMB's ``residuals()`` (Pearson:
        sqrt(weight) (y - mean) / sqrt(variance))."""
        if type not in ("response", "pearson"):
            raise ValueError(f"type must be 'response' or 'pearson', not {type!r}")
        r = self._y_scale() - self.fitted
        if type == "response":
            return r
        # prior weights scale the Pearson residuals (binomial: they are the trials, in V)
        return r * np.sqrt(self.model.pw / self._variance())

    def _variance(self):
        """The variance of the Pearson residuals (binomial families: of the proportion):
        glmmTMB's variance function, (1 - pz)(V + pz mu^2) with zero inflation, and for
        hurdle models the exact variance of the hurdle distribution (glmmTMB 1.1.5
        divides by another value there)."""
        eta, etaz, phi, size = self._components()
        pz = np.zeros_like(eta) if etaz is None else special.expit(etaz)
        mu = self.family.linkinv(eta)
        V = self.family.pearson_variance(mu, phi, size, self.power or 1.5)
        if self.family.binomial_like:
            V = V / size ** 2
        if self.family.truncated:
            p0 = self._p0(mu, phi)
            m2 = (V + mu ** 2) / (1.0 - p0)
            mean = (1.0 - pz) * mu / (1.0 - p0)
            return (1.0 - pz) * m2 - mean ** 2
        return (1.0 - pz) * (V + pz * mu ** 2)

    def _draw_many(self, rng, n_sim: int, conditional: bool) -> np.ndarray:
        """(n, n_sim) responses (binomial families: successes): given the random effects'
        conditional modes, or with new random effects b = Lambda(theta) u."""
        m = self.model
        eta, etaz, phi, size = self._components()
        pz = np.zeros(m.n) if etaz is None else special.expit(etaz)
        if not conditional:
            base = m.offset + m.X @ self.beta
            Zl = m.re.Z() @ m.re.Lambda(self.theta) if m.has_re else None
        out = np.empty((m.n, n_sim))
        for s in range(n_sim):
            e = eta if conditional or Zl is None else base + Zl @ rng.standard_normal(m.re.q)
            out[:, s] = self._draw(rng, self.family.linkinv(e), phi, size, pz)
        return out

    def simulation_parts(self) -> ModelParts:
        """What :func:`pymer.simulate_residuals` needs from this fit: the response and
        fitted means (binomial families: proportions), the means with the random effects
        at zero, and the sampler of the family with its zero inflation and dispersion
        per row."""
        if self.family.base == "genpois":
            raise NotImplementedError("simulated residuals are not available for the genpois family "
                                      "(pymer cannot simulate from it)")
        m = self.model
        scale = m.size[:, None] if self.family.binomial_like else 1.0

        def sampler(rng, n_sim, conditional):
            return self._draw_many(rng, n_sim, conditional) / scale

        fam = self.family
        return ModelParts(self._y_scale(), self.fitted, fam.name, fam,
                          m.size.copy() if fam.binomial_like else m.pw.copy(), self.sigma, False, None, self,
                          sampler=sampler, population=self.predict(type="response", re_form="NA"),
                          discrete=fam.base not in ("gaussian", "Gamma", "beta", "tweedie"))

    def simulate_residuals(self, n_sim: int = 250, seed: int | None = 123, refit: bool = False,
                           conditional: bool = True) -> SimulatedResiduals:
        """DHARMa's scaled (quantile) residuals from simulations: see :func:`pymer.simulate_residuals`."""
        return simulate_residuals(self, n_sim=n_sim, seed=seed, refit=refit, conditional=conditional)

    def simulate(self, nsim: int = 1, seed: int | None = None) -> pd.DataFrame:
        """Responses simulated from the fitted model, with new random effects drawn from
        their fitted distribution (binomial families: numbers of successes).

        Returns
        -------
        DataFrame with columns sim_1 ... sim_nsim
        """
        if not (isinstance(nsim, (int, np.integer)) and nsim >= 1):
            raise ValueError(f"nsim must be a whole number >= 1, not {nsim!r}")
        if self.family.base == "genpois":
            raise NotImplementedError("simulate() is not available for the genpois family")
        sims = self._draw_many(np.random.default_rng(seed), nsim, conditional=False)
        return pd.DataFrame(sims, columns=[f"sim_{s + 1}" for s in range(nsim)])

    def _draw(self, rng, mu, phi, size, pz):
        b = self.family.base
        n = mu.shape[0]
        if self.family.truncated:
            p0 = self._p0(mu, phi)
            uu = p0 + rng.uniform(size=n) * (1.0 - p0)
            if b == "poisson":
                y = stats.poisson.ppf(uu, mu)
            elif b == "nbinom2":
                y = stats.nbinom.ppf(uu, phi, phi / (phi + mu))
            else:
                y = stats.nbinom.ppf(uu, mu / phi, 1.0 / (1.0 + phi))
            y = np.maximum(y, 1.0)
        elif b == "gaussian":
            y = rng.normal(mu, np.sqrt(phi))
        elif b == "poisson":
            y = rng.poisson(mu).astype(float)
        elif b == "binomial":
            y = rng.binomial(size.astype(np.int64), mu).astype(float)
        elif b == "nbinom2":
            y = rng.negative_binomial(phi, phi / (phi + mu)).astype(float)
        elif b == "nbinom1":
            y = rng.negative_binomial(mu / phi, 1.0 / (1.0 + phi)).astype(float)
        elif b == "Gamma":
            y = rng.gamma(phi, mu / phi)
        elif b == "beta":
            y = rng.beta(mu * phi, (1.0 - mu) * phi)
        elif b == "betabinomial":
            y = rng.binomial(size.astype(np.int64), rng.beta(mu * phi, (1.0 - mu) * phi)).astype(float)
        elif b == "tweedie":
            p = self.power
            lam = mu ** (2.0 - p) / (phi * (2.0 - p))
            k = rng.poisson(lam)
            shape = (2.0 - p) / (p - 1.0)
            scale = phi * (p - 1.0) * mu ** (p - 1.0)
            y = np.where(k > 0, rng.gamma(np.maximum(k, 1) * shape, scale), 0.0)
        else:
            raise NotImplementedError(f"simulate() for the {b} family")
        return np.where(rng.uniform(size=n) < pz, 0.0, y)

    # ---- printing ------------------------------------------------------------------------
    def summary(self) -> str:
        """glmmTMB's summary text (conditional, zero-inflation and dispersion blocks)."""
        return summary_text(self)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        f = self.family
        return (f"<TMBResult {f.name}({f.link}) {self.model.formula!r}: logLik {self.loglik:.4f}, "
                f"nobs {self.nobs}>")
