"""Fitted mixed models: lme4's accessors, printed summaries, prediction and simulation."""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ._rformat import format_real, format_table
from .formula import deparse_lines, update_formula as _update_formula


class MixedModelResult:
    """What LMM and GLMM fits share: random-effects bookkeeping and the tables built from it.

    Subclasses provide ``theta``, ``beta``, ``b`` (random effects on the
    original scale, lme4's order), ``sigma``, ``model``, ``objective``, ``df`` and
    ``_vcov_matrix()``.
    """

    # ---- basic attributes --------------------------------------------------
    @property
    def re(self):
        return self.model.re

    @property
    def nobs(self) -> int:
        return int(self.model.n)

    # ---- likelihood: objective is -2 log-likelihood (the REML criterion for REML fits)
    @property
    def loglik(self) -> float:
        """Log-likelihood (the REML log-likelihood for REML fits, as lme4's logLik)."""
        return -0.5 * self.objective

    @property
    def aic(self) -> float:
        return self.objective + 2 * self.df

    @property
    def bic(self) -> float:
        return self.objective + np.log(self.nobs) * self.df

    @cached_property
    def ngrps(self) -> dict:
        """Number of levels of each grouping factor (each factor once, lme4's order)."""
        out = {}
        for t in self.re.terms:
            out.setdefault(t.group, t.nlev)
        return out

    @property
    def fixef_names(self) -> list:
        return list(self.model.fixef_names)

    @cached_property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, with R's coefficient names."""
        return pd.Series(np.asarray(self.beta), index=self.fixef_names, name="fixef")

    @cached_property
    def theta_names(self) -> list:
        return self.re.theta_names()

    @property
    def is_singular(self) -> bool:
        """lme4's isSingular(tol = 1e-4): a diagonal theta element near its bound."""
        return self.re.is_singular(self.theta)

    @property
    def formula(self) -> str:
        return self.model.mf.formula

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effects estimates."""
        V = self._vcov_matrix()
        return pd.DataFrame(V, index=self.fixef_names, columns=self.fixef_names)

    # ---- random effects ------------------------------------------------------
    def _term_blocks(self, vec):
        """Split a length-q vector into one (nlev, k) array per term."""
        out = []
        for t, off in zip(self.re.terms, self.re.col_offsets):
            out.append(np.asarray(vec[off:off + t.k * t.nlev]).reshape(t.nlev, t.k))
        return out

    def _by_group(self, arrays):
        """Merge per-term (nlev, k) arrays into one DataFrame per grouping factor."""
        out = {}
        for t, a in zip(self.re.terms, arrays):
            df = pd.DataFrame(a, index=pd.Index(t.levels, name=t.group), columns=t.colnames)
            if t.group in out:
                prev = out[t.group]
                extra = [c for c in df.columns if c not in prev.columns]
                out[t.group] = pd.concat([prev, df[extra]], axis=1)
            else:
                out[t.group] = df
        return out

    @cached_property
    def ranef(self) -> dict:
        """Conditional modes of the random effects: group -> DataFrame (levels x terms)."""
        return self._by_group(self._term_blocks(self.b))

    @cached_property
    def coef(self) -> dict:
        """Fixed plus random effects per level: group -> DataFrame, as lme4's coef()."""
        out = {}
        fe = self.fixef
        for g, r in self.ranef.items():
            df = pd.DataFrame(np.tile(fe.values, (len(r), 1)), index=r.index, columns=fe.index)
            for c in r.columns:
                if c in df.columns:
                    df[c] = df[c] + r[c]
                else:
                    df[c] = r[c]
            out[g] = df
        return out

    def _covariances(self):
        """Per term: covariance matrix of its random effects (on the sigma^2 scale where
        the model has a residual scale, as lme4's VarCorr)."""
        s2 = self.sigma ** 2 if self._scaled_varcorr else 1.0
        return [s2 * T @ T.T for T in self.re.factors(self.theta)]

    def _vc_group_names(self) -> list:
        """VarCorr's group names: a factor with several terms gets .1, .2, ... (Subject, Subject.1)."""
        names, seen = [], {}
        for t in self.re.terms:
            k = seen.get(t.group, -1) + 1
            seen[t.group] = k
            names.append(t.group if k == 0 else f"{t.group}.{k}")
        return names

    @property
    def df_residual(self) -> int:
        return self.nobs - self.df

    def _scaled_residual_lines(self):
        """The summary's 'Scaled residuals' block: quantiles of the scaled Pearson residuals."""
        q = np.quantile(self.residuals("pearson", scaled=True), [0, 0.25, 0.5, 0.75, 1])
        # lme4: zapsmall(quantiles, 5), printed with 4 significant digits
        vals = format_real(zapsmall(q, 5), 4)
        w = max(max(len(v) for v in vals), 6)
        return ["Scaled residuals: ",
                " ".join(n.rjust(w) for n in ["Min", "1Q", "Median", "3Q", "Max"]) + " ",
                " ".join(v.rjust(w) for v in vals) + " "]

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's as.data.frame(VarCorr()): grp, var1, var2, vcov, sdcor."""
        rows = []
        for name, t, S in zip(self._vc_group_names(), self.re.terms, self._covariances()):
            sd = np.sqrt(np.diag(S))
            for i in range(t.k):
                rows.append((name, t.colnames[i], None, S[i, i], sd[i]))
            for i in range(t.k):
                for j in range(i + 1, t.k):
                    corr = S[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                    rows.append((name, t.colnames[i], t.colnames[j], S[i, j], corr))
        if self._scaled_varcorr:
            rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def condvar(self) -> dict:
        """Conditional covariances of the random effects: group -> array (nlev, k, k).

        lme4's ``condVar``/``postVar``: the diagonal blocks of
        sigma^2 Lambda (Lambda'Z'WZ Lambda + I)^-1 Lambda'.
        """
        out = []
        s2 = self.sigma ** 2 if self._scaled_varcorr else 1.0
        core = self._core_at_optimum()
        for t, off, T in zip(self.re.terms, self.re.col_offsets, self.re.factors(self.theta)):
            k, nl = t.k, t.nlev
            res = np.empty((nl, k, k))
            chunk = max(1, 2048 // k)
            for l0 in range(0, nl, chunk):
                l1 = min(nl, l0 + chunk)
                cols = np.arange(off + l0 * k, off + l1 * k)
                E = np.zeros((self.re.q, cols.size), order="F")
                E[cols, np.arange(cols.size)] = 1.0
                S = core.solve_A(E)[cols, :]          # (m*k, m*k) block rows of A^-1
                for li in range(l1 - l0):
                    blk = S[li * k:(li + 1) * k, li * k:(li + 1) * k]
                    res[l0 + li] = s2 * T @ blk @ T.T
            out.append(res)
        merged = {}
        for t, r in zip(self.re.terms, out):
            if t.group in merged:
                a = merged[t.group]
                kk = a.shape[1] + r.shape[1]
                m = np.zeros((a.shape[0], kk, kk))
                m[:, :a.shape[1], :a.shape[1]] = a
                m[:, a.shape[1]:, a.shape[1]:] = r
                merged[t.group] = m
            else:
                merged[t.group] = r
        return merged

    def ranef_table(self, condvar=True) -> pd.DataFrame:
        """Long table of conditional modes (and conditional SDs): grpvar, term, grp, condval, condsd."""
        frames = []
        cv = self.condvar() if condvar else None
        for g, df in self.ranef.items():
            for j, c in enumerate(df.columns):
                d = pd.DataFrame({"grpvar": g, "term": c, "grp": df.index.astype(str),
                                  "condval": df[c].to_numpy()})
                if cv is not None:
                    d["condsd"] = np.sqrt(cv[g][:, j, j])
                frames.append(d)
        return pd.concat(frames, ignore_index=True)

    # ---- linear predictor -------------------------------------------------------
    @cached_property
    def _Zb(self):
        return np.asarray(self.re.Z() @ self.b)

    @cached_property
    def _eta(self):
        """Linear predictor X beta + Z b + offset of the fitted data."""
        return self.model.X @ self.beta + self._Zb + self.model.offset

    def _linear_predictor(self, newdata=None, re_form=None, allow_new_levels=False):
        use_re = not _no_random(re_form)
        if newdata is None:
            eta = self.model.X @ self.beta + self.model.offset
            if use_re:
                eta = eta + self._Zb
            return eta
        nd = self.model.mf.new_data(newdata, include_random=use_re, allow_new_levels=allow_new_levels)
        X = np.asarray(nd.X, dtype=np.float64)
        keep = [self.model.mf.fixef_names.index(nm) for nm in self.fixef_names]
        eta = X[:, keep] @ self.beta
        if nd.offset is not None:
            eta = eta + np.asarray(nd.offset)
        if use_re:
            eta = eta + self._new_Zb(nd)
        return eta

    def _new_Zb(self, nd):
        """Z b for new rows: each random term matched to the fitted term by its group and columns."""
        n = np.asarray(nd.X).shape[0]
        out = np.zeros(n)
        # parsed terms are in formula order; fitted terms in lme4's order
        for rt, (Xl, codes) in zip(self.model.mf.random, nd.random):
            for t, off in zip(self.re.terms, self.re.col_offsets):
                if t.group == rt.group and list(t.colnames) == list(rt.colnames):
                    B = np.asarray(self.b[off:off + t.k * t.nlev]).reshape(t.nlev, t.k)
                    codes = np.asarray(codes)
                    ok = codes >= 0
                    contrib = np.zeros(n)
                    contrib[ok] = np.sum(np.asarray(Xl)[ok] * B[codes[ok]], axis=1)
                    out += contrib
                    break
        return out

    # ---- text ----------------------------------------------------------------
    @property
    def _scaled_varcorr(self) -> bool:
        """Whether the random-effects covariances carry the residual scale sigma^2 and
        VarCorr has a Residual row: LMMs, and GLMMs of families with a dispersion."""
        return bool(self._has_scale)

    def _vc_lines(self, with_variance=True):
        """lme4's VarCorr table: variances and standard deviations each printed with 4
        significant digits (one layout per column), correlations with 2 decimals."""
        vc = self.varcorr
        var_rows = vc[vc["var2"].isna()]
        kmax = max(t.k for t in self.re.terms)
        header = ["Groups", "Name"] + (["Variance"] if with_variance else []) + ["Std.Dev."]
        if kmax > 1:
            header.append("Corr")
        variances = format_real(var_rows["vcov"].to_numpy(), 4)
        sds = format_real(var_rows["sdcor"].to_numpy(), 4)
        rows = []
        i = 0
        for name, t, S in zip(self._vc_group_names(), self.re.terms, self._covariances()):
            sd = np.sqrt(np.diag(S))
            for a in range(t.k):
                r = [name if a == 0 else "", t.colnames[a]]
                if with_variance:
                    r.append(variances[i])
                r.append(sds[i])
                if kmax > 1:
                    cs = []
                    for bb in range(a):
                        c = S[a, bb] / (sd[a] * sd[bb]) if sd[a] > 0 and sd[bb] > 0 else np.nan
                        cs.append("NaN" if np.isnan(c) else f"{c:.2f}")
                    r.append(cs)
                rows.append(r)
                i += 1
        if self._scaled_varcorr:
            r = ["Residual", ""]
            if with_variance:
                r.append(variances[i])
            r.append(sds[i])
            if kmax > 1:
                r.append("")
            rows.append(r)
        if kmax > 1:
            # correlations: one right-aligned column per earlier effect, common width
            cw = max([len(c) for r in rows if isinstance(r[-1], list) for c in r[-1]] + [4])
            for r in rows:
                if isinstance(r[-1], list):
                    r[-1] = " ".join(c.rjust(cw) for c in r[-1])
        # R left-aligns every column (numbers keep their common right-aligned layout)
        widths = [max(len(x[j]) for x in [header] + rows) for j in range(len(header))]
        return [" " + " ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]

    def _groups_line(self):
        parts = "; ".join(f"{g}, {n}" for g, n in self.ngrps.items())
        return f"Number of obs: {self.nobs}, groups:  {parts}"

    def _summary_lines(self, head, stats, coef_lines, correlation=True):
        """The body every summary() prints: `head` (title, formula, data), the fit
        statistics `stats`, scaled residuals, random effects, the fixed-effects table
        `coef_lines`, their correlations and the convergence messages."""
        lines = head + [""] + stats + [""] + self._scaled_residual_lines() + ["", "Random effects:"]
        lines += self._vc_lines(with_variance=True)
        lines += [self._groups_line(), "", "Fixed effects:"] + coef_lines
        if correlation:
            lines += self._corr_lines()
        return lines + _message_lines(self)

    def _corr_lines(self):
        """lme4's 'Correlation of Fixed Effects' block: the lower triangle with 3 decimals
        (one common layout), rows named by abbreviate(names, 11), columns by
        abbreviate(names, 6), every column left-aligned."""
        V = self._vcov_matrix()
        p = V.shape[0]
        if p < 2:
            return []
        if p > 12:
            return ["", f"Correlation matrix not shown by default, as p = {p} > 12.",
                    "Use print(x, correlation=TRUE)  or",
                    "    vcov(x)        if you need it", ""]
        sd = np.sqrt(np.diag(V))
        C = V / np.outer(sd, sd)
        names = self.fixef_names
        rnames = abbreviate(names, 11)
        cnames = abbreviate(names, 6)
        low = np.array([C[i, j] for i in range(1, p) for j in range(i)])
        cells = iter(format_real(np.round(low, 3), 7, nsmall=3))
        rows = [[rnames[i]] + [next(cells) for j in range(i)] + [""] * (p - 1 - i)
                for i in range(1, p)]
        header = [""] + cnames[:p - 1]
        widths = [max(len(r[j]) for r in rows + [header]) for j in range(p)]
        lines = ["", "Correlation of Fixed Effects:"]
        lines += [" ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]
        return lines

    def __repr__(self):
        return self._print_text()

    def __str__(self):
        return self._print_text()

    def _repr_html_(self):
        from ._html import result_html
        return result_html(self)

    # ---- tidy tables (broom.mixed) ---------------------------------------------------
    def tidy(self, effects=("fixed", "ran_pars"), conf_int=False, conf_level=0.95, **kwargs):
        """One row per estimate, as broom.mixed's tidy(): see :func:`pymer.tidy.tidy`."""
        from .tidy import tidy
        return tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level, **kwargs)

    def glance(self):
        """One row of model statistics, as broom.mixed's glance(): see :func:`pymer.tidy.glance`."""
        from .tidy import glance
        return glance(self)


def _no_random(re_form) -> bool:
    if re_form is None:
        return False
    if re_form is False:
        return True
    if isinstance(re_form, float) and np.isnan(re_form):
        return True
    if isinstance(re_form, str) and re_form.replace(" ", "") in ("NA", "~0", "~1-1", "0"):
        return True
    raise ValueError(f"re_form={re_form!r} is not supported: use None (all random effects) or NA / '~0' (none)")


class Summary:
    """A printed summary (plain text; HTML in notebooks) with its coefficient table."""

    def __init__(self, text: str, coefficients: pd.DataFrame, title: str = "summary", result=None):
        self.text = text
        self.coefficients = coefficients
        self.title = title
        self.result = result        # the fitted model, for the HTML tables

    def __str__(self):
        return self.text

    def __repr__(self):
        return self.text

    def _repr_html_(self):
        from ._html import summary_html
        return summary_html(self)


class LMMResult(MixedModelResult):
    """A fitted linear mixed model (lme4's lmerMod).

    Attributes follow lme4's accessors: ``fixef``, ``theta``, ``sigma``,
    ``objective`` (REML criterion or deviance), ``loglik``, ``aic``, ``bic``,
    ``deviance``, ``nobs``, ``ngrps``, ``vcov``, ``varcorr``, ``ranef``,
    ``coef``, ``fitted``; methods ``residuals``, ``predict``, ``simulate``,
    ``refit``, ``update``, ``summary``, ``condvar``.
    """

    _has_scale = True

    def __init__(self, model, theta, opt=None, messages=()):
        self.model = model
        self.theta = np.asarray(theta, dtype=np.float64).copy()
        self.opt = opt
        self.messages = list(messages)
        self.REML = model.REML
        core = model.core
        self.objective = float(model.objective(self.theta))
        self.beta = core.solve_fixed()
        self.u = core.solve_u(self.beta)
        self.b = core.Lambdat_apply(self.u)
        self.pwrss = float(core.pwrss)
        self.RX = core.RX
        self.logdetL = float(core.logdetL)
        n, p = model.n, model.p
        self.sigma = float(np.sqrt(self.pwrss / (n - p if self.REML else n)))

    def _core_at_optimum(self):
        core = self.model.core
        core.set_theta(self.theta)
        core.update()
        return core

    def _vcov_matrix(self):
        Rinv = np.linalg.inv(self.RX) if self.RX.size else self.RX
        return self.sigma ** 2 * (Rinv @ Rinv.T)

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
        """Fitted values X beta + Z b + offset."""
        return self._eta.copy()

    def residuals(self, type="response", scaled=False) -> np.ndarray:
        """Residuals: ``"response"`` (default), ``"pearson"``, ``"working"``, ``"deviance"``; scaled divides by sigma."""
        r = self.model.y - self.fitted
        if type in ("pearson", "deviance") and self.model.weights is not None:
            r = r * np.sqrt(self.model.weights)
        elif type not in ("response", "working", "pearson", "deviance"):
            raise ValueError(f"unknown residual type {type!r}; use 'response', 'pearson', 'working' or 'deviance'")
        return r / self.sigma if scaled else r

    def predict(self, newdata=None, re_form=None, allow_new_levels=False) -> np.ndarray:
        """Predictions, as lme4's predict(): all random effects (re_form=None) or none (re_form='~0' / NA).

        New levels of a grouping factor predict at the population level (random
        effect 0) with ``allow_new_levels=True``, an error otherwise.
        """
        return self._linear_predictor(newdata, re_form, allow_new_levels)

    def simulate(self, nsim=1, seed=None, use_u=False) -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's simulate): columns sim_1 ... sim_nsim."""
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
        rng = np.random.default_rng(seed)
        n = self.nobs
        base = self.model.X @ self.beta + self.model.offset
        w = self.model.weights if self.model.weights is not None else np.ones(n)
        out = np.empty((n, nsim))
        Z = self.re.Z()
        Lam = self.re.Lambda(self.theta)
        for s in range(nsim):
            if use_u:
                zb = self._Zb
            else:
                u = rng.standard_normal(self.re.q)
                zb = Z @ (Lam @ u) * self.sigma
            out[:, s] = base + zb + self.sigma * rng.standard_normal(n) / np.sqrt(w)
        return pd.DataFrame(out, columns=[f"sim_{i + 1}" for i in range(nsim)])

    def refit(self, newresp, **kwargs):
        """Refit the same model to a new response vector (same rows), as lme4's refit()."""
        from .lmm import LinearMixedModel

        y = np.asarray(newresp, dtype=np.float64).ravel()
        if y.shape[0] != self.nobs:
            raise ValueError(f"newresp has {y.shape[0]} values; the model has {self.nobs} observations")
        if not np.all(np.isfinite(y)):
            raise ValueError("newresp contains missing or non-finite values")
        model = LinearMixedModel.__new__(LinearMixedModel)
        model.__dict__.update(self.model.__dict__)
        model._build_core()
        model.set_response(y)
        kwargs.setdefault("start", self.theta)
        return model.fit(**kwargs)

    def update(self, formula=None, data=None, REML=None, **kwargs):
        """Refit with a changed formula, data or REML flag (as lme4's update())."""
        from .lmm import lmer

        f = self.formula if formula is None else _update_formula(self.formula, formula)
        call = getattr(self.model, "call", {})
        d = call.get("data") if data is None else data
        r = self.REML if REML is None else REML
        kw = {"weights": call.get("weights"), "offset": call.get("offset")}
        kw.update(kwargs)
        return lmer(f, d, REML=r, **kw)

    # ---- inference (pymer.inference, pymer.profile) ------------------------------
    def anova(self, *others, type=3, ddf="Satterthwaite", refit=True, names=None):
        """F tests of the fixed-effect terms (lmerTest's anova), or with other models
        given, likelihood-ratio tests (lme4's anova): see :func:`pymer.inference.anova_ddf`
        and :func:`pymer.anova`."""
        from . import inference
        if others:
            return inference.anova(self, *others, refit=refit, names=names)
        return inference.anova_ddf(self, type=type, ddf=ddf)

    def drop1(self, test="Chisq", k=2.0):
        """Single-term deletions with likelihood-ratio tests: see :func:`pymer.drop1`."""
        from .inference import drop1
        return drop1(self, test=test, k=k)

    def confint(self, parm=None, level=0.95, method="profile", **kwargs):
        """Confidence intervals ("profile", "wald", "boot"): see :func:`pymer.confint`."""
        from .inference import confint
        return confint(self, parm=parm, level=level, method=method, **kwargs)

    def profile(self, which=None, **kwargs):
        """The deviance profile of each parameter: see :func:`pymer.profile`."""
        from .profile import profile
        return profile(self, which=which, **kwargs)

    def bootstrap(self, func, nsim=100, seed=None, n_jobs=1, progress=None, **kwargs):
        """Parametric bootstrap of func(refit), lme4's bootMer: see :func:`pymer.bootstrap`."""
        from .inference import bootstrap
        return bootstrap(self, func, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs)

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

    def _fit_stats_line(self, decimals=1):
        """'REML criterion at convergence: ...' (REML fits) or the AIC row (ML fits), with
        the numbers rounded to `decimals` places: 1 in summaries, 4 when printed."""
        if self.REML:
            return [f"REML criterion at convergence: {r_round_format(self.objective, decimals)}"]
        return aic_lines(self.aic, self.bic, self.loglik, self.deviance, self.df_residual, decimals)

    def summary(self, ddf=None, correlation=True):
        """lme4's summary(): header, scaled residuals, random effects, fixed effects, correlations."""
        if ddf is not None:
            from .inference import summary_with_ddf
            return summary_with_ddf(self, ddf)
        lines = self._summary_lines(self._header(), self._fit_stats_line(1),
                                    _coef_lines(self._coef_table, digits=4), correlation)
        return Summary("\n".join(lines), self._coef_table.copy(), result=self)

    def _print_text(self):
        lines = self._header()
        lines += self._fit_stats_line(4)
        lines.append("Random effects:")
        lines += self._vc_lines(with_variance=False)
        lines.append(self._groups_line())
        lines.append("Fixed Effects:")
        lines += _fixef_print_lines(self.fixef)
        lines += _message_lines(self, printed=True)
        return "\n".join(lines)


# =============================================================================
# R's printing conventions, as lme4's print() and summary() show them
# =============================================================================

SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"
_EPS = np.finfo(float).eps


def format_pvalues(p, digits=3):
    """p-values as R's format.pval() writes them (the layout of printCoefmat and print.anova).

    Values >= 1e-4 share one common layout (fixed unless scientific is narrower),
    smaller ones another; values below machine epsilon read ``<2e-16`` or
    ``< 2.2e-16`` (the number of digits and the blank depend on `digits` and on the
    width of the other entries, as in R). NaN/NA give ``"NA"``.
    """
    p = np.asarray(p, dtype=np.float64).ravel()
    out = ["NA"] * p.size
    ok = np.isfinite(p)
    tiny = ok & (p < _EPS)
    with np.errstate(divide="ignore"):
        expo = np.floor(np.log10(np.where(ok & (p > 0), p, 1e-300)))
    fixp = ok & ~tiny & ((expo >= -4) | (p == 0))
    sci = ok & ~tiny & ~fixp
    for mask in (fixp, sci):
        if mask.any():
            for i, txt in zip(np.flatnonzero(mask), format_real(p[mask], digits)):
                out[i] = txt.strip()
    if tiny.any():
        # epsilon with digits - 2 significant digits, fewer when the other entries are
        # narrow; a blank after "<" unless that would widen the column (R's rules)
        dig = max(1, digits - 2)
        others = [out[i] for i in np.flatnonzero(ok & ~tiny)]
        if others:
            nc = max(len(o) for o in others)
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            sep = "" if dig == 1 and nc <= 6 else " "
        else:
            sep = "" if dig == 1 else " "
        eps_txt = format_real([_EPS], dig)[0].strip()
        for i in np.flatnonzero(tiny):
            out[i] = "<" + sep + eps_txt
    return out


def _stars(p):
    if not np.isfinite(p):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return ""


def add_signif_stars(lines, pvalues):
    """Append R's significance-star column to a header line and its table rows.

    As printCoefmat: only when some p-value is below 0.1; the column is as wide
    as its widest entry, blank-padded (also on the header line), and the legend
    follows the table.
    """
    pv = np.asarray(pvalues, dtype=np.float64)
    if not np.any(np.isfinite(pv) & (pv < 0.1)):
        return list(lines)
    stars = [_stars(x) for x in pv]
    w = max(len(x) for x in stars)
    out = [lines[0] + " " + " " * w]
    out += [ln + " " + st.ljust(w) for ln, st in zip(lines[1:], stars)]
    return out + ["---", SIGNIF_LEGEND]


def _coef_lines(table: pd.DataFrame, digits=4):
    """The fixed-effects table as R's printCoefmat prints it in lme4's summary.

    Estimates and standard errors (and lmerTest's df) share one layout with
    `digits` significant digits; test statistics are rounded to ``digits - 1``
    decimals first; p-values as :func:`format_pvalues` with ``digits - 1``;
    significance stars when some p-value is below 0.1.
    """
    n = len(table)
    dig_tst = max(1, min(5, digits - 1))
    joint = [c for c in ("Estimate", "Std. Error", "df") if c in table.columns]
    fmt = format_real(table[joint].to_numpy(dtype=float).ravel(order="F"), digits)
    cols = {c: fmt[k * n:(k + 1) * n] for k, c in enumerate(joint)}
    pcol = None
    for c in table.columns:
        if c in cols:
            continue
        v = table[c].to_numpy(dtype=float)
        if str(c).startswith("Pr("):
            pcol = c
            cols[c] = format_pvalues(v, dig_tst)
        else:
            cols[c] = format_real(np.round(v, dig_tst), digits)
    header = [""] + [str(c) for c in table.columns]
    # the numbers keep their common width (R pads them), so a column narrower than its
    # values' layout ("df" over " 17.000") is as wide as the layout
    rows = [[str(table.index[i])] + [cols[c][i] for c in table.columns] for i in range(n)]
    lines = format_table(rows, header)
    if pcol is not None:
        lines = add_signif_stars(lines, table[pcol].to_numpy(dtype=float))
    return lines


def zapsmall(x, digits):
    """R's zapsmall() (R 4.2): round to ``digits - log10(max|x|)`` decimals, that
    number itself rounded to a whole number as R's round() does with its digits
    (0.5142541 among values up to 2.88 keeps 5 decimals, 0.51425)."""
    x = np.asarray(x, dtype=np.float64)
    mx = np.nanmax(np.abs(x)) if x.size else 0.0
    if not mx > 0:
        return x
    return np.round(x, int(np.floor(max(0.0, digits - np.log10(mx)) + 0.5)))


def aic_lines(aic, bic, loglik, deviance, df_resid, decimals):
    """lme4's AIC / BIC / logLik / deviance / df.resid rows.

    The four statistics are rounded to `decimals` places (1 in summaries, 4 when
    a fit is printed) and laid out as R prints a numeric vector (7 significant
    digits, one number of decimals for all); df.resid is a whole number. As R
    prints a named vector, every column has the same width and is followed by a
    blank.
    """
    names = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    vals = np.round(np.array([aic, bic, loglik, deviance], dtype=float), decimals)
    cells = [c.strip() for c in format_real(vals, 7)] + [str(int(df_resid))]
    w = max(len(x) for x in names + cells)
    return ["".join(x.rjust(w) + " " for x in names), "".join(x.rjust(w) + " " for x in cells)]


def r_round_format(x, decimals):
    """A single number rounded to `decimals` places and printed as R prints it (7 digits)."""
    return format_real([np.round(float(x), decimals)], 7)[0].strip()


def abbreviate(names, minlength=4):
    """R's ``abbreviate(names, minlength)`` (method "left.kept", strict = FALSE).

    Each name is shortened to `minlength` characters if it is longer: spaces go
    first, then lower-case vowels from the right, then lower-case letters from
    the right, then anything else from the right; the first character and the
    first character after each space are kept. Names whose abbreviations
    coincide get one more character each, until all differ (as R does).
    A single string gives a string, a list gives a list.
    """
    single = isinstance(names, str)
    names = [names] if single else [str(x) for x in names]
    mins = [int(minlength)] * len(names)
    out = [_abbreviate1(nm, m) for nm, m in zip(names, mins)]
    for _ in range(max((len(x) for x in names), default=0) + 1):
        counts = {}
        for a in out:
            counts[a] = counts.get(a, 0) + 1
        dup = [i for i, a in enumerate(out) if counts[a] > 1 and names[i] != a
               and len(names[i]) > mins[i]]
        if not dup:
            break
        for i in dup:
            mins[i] += 1
            out[i] = _abbreviate1(names[i], mins[i])
    return out[0] if single else out


def _abbreviate1(name: str, minlength: int) -> str:
    s = name.lstrip(" ")
    if len(s) <= minlength:
        return s
    # (character, kept?) -- the first character and word starts are never dropped
    chars = [(c, i == 0 or s[i - 1] == " ") for i, c in enumerate(s)]
    chars = [(c, k) for c, k in chars if c != " "]
    vowels = set("aeiou")
    lower = set("abcdefghijklmnopqrstuvwxyz")
    for droppable in (lambda c: c in vowels, lambda c: c in lower, lambda c: True):
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            c, kept = chars[i]
            if not kept and droppable(c):
                del chars[i]
            i -= 1
        if len(chars) <= minlength:
            break
    return "".join(c for c, _ in chars)


# ---- formulas as R deparses them (lme4 prints them with cat(fill = TRUE)) ------------

def cat_fill(items, width=80):
    """R's ``cat(..., fill = TRUE)``: items separated by blanks, a new line (after a
    trailing blank) before an item that would reach `width`."""
    lines, cur = [], items[0]
    for it in items[1:]:
        if len(cur) + 1 + len(it) >= width:
            lines.append(cur + " ")
            cur = it
        else:
            cur = cur + " " + it
    lines.append(cur)
    return lines


def formula_lines(formula: str) -> list:
    """lme4's 'Formula:' line(s) of a printed model."""
    return cat_fill(["Formula:"] + deparse_lines(formula))


def _fixef_print_lines(fe: pd.Series):
    vals = [v.strip() for v in format_real(fe.to_numpy(), 4)]
    names = list(fe.index)
    w = max(len(x) for x in names + vals)
    per_line = max(1, 80 // (w + 2))
    lines = []
    for i in range(0, len(names), per_line):
        lines.append("  ".join(a.rjust(w) for a in names[i:i + per_line]) + "  ")
        lines.append("  ".join(b.rjust(w) for b in vals[i:i + per_line]) + "  ")
    return lines


def _optimizer_label(res) -> str:
    # pymer's optimizers are NLopt's (BOBYQA by default): lme4 calls that "nloptwrap"
    return "nloptwrap"


def _warning_counts(res):
    """(optimizer warnings, lme4-check warnings) as lme4 counts them."""
    opt_msgs = list(getattr(getattr(res, "opt", None), "messages", None) or [])
    n_opt = sum(1 for m in res.messages if m in opt_msgs)
    n_check = len(res.messages) - n_opt + (1 if res.is_singular else 0)
    return n_opt, n_check


def _message_lines(res, printed=False):
    """The closing lines of a summary (or of a printed fit) when the fit gave warnings.

    As lme4: the optimizer's convergence code, then each message (the boundary
    message for singular fits first) and a blank line; a printed fit gets one
    line with the counts instead.
    """
    msgs = (["boundary (singular) fit: see help('isSingular')"] if res.is_singular else [])
    msgs += list(res.messages)
    if not msgs:
        return []
    status = getattr(getattr(res, "opt", None), "status", 1)
    code = "0 (OK)" if status is None or status > 0 and status != 5 else f"{status}"
    head = f"optimizer ({_optimizer_label(res)}) convergence code: {code}"
    if printed:
        n_opt, n_check = _warning_counts(res)
        return [f"{head} ; {n_opt} optimizer warnings; {n_check} lme4 warnings "]
    return [head] + [ln for m in msgs for ln in str(m).split("\n")] + [""]
