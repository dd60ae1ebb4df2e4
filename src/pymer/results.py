"""Fitted mixed models: lme4's accessors, printed summaries, prediction and simulation."""
from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property

import numpy as np
import pandas as pd

from .report.rformat import abbreviate, format_real, r_round_format, zapsmall
from .report.summary import Summary, aic_lines, fixef_print_lines, formula_lines, message_lines
from .report.rformat import coef_lines


class MixedModelResult:
    """What LMM and GLMM fits share: random-effects bookkeeping and the tables built from it.

    Subclasses provide ``theta``, ``beta``, ``b`` (random effects on the
    original scale, lme4's order), ``sigma``, ``model``, ``objective``, ``df`` and
    ``_vcov_matrix()``.
    """

    # ---- basic attributes --------------------------------------------------

    #: Whether this is a linear mixed model (profiled Gaussian likelihood, an LMM's
    #: compiled core); inference asks this, never the class.
    is_linear = False

    @property
    def has_dispersion(self) -> bool:
        """Whether a residual scale sigma is estimated: the random-effects covariances
        carry sigma^2 and VarCorr has a Residual row (LMMs; Gamma, inverse Gaussian and
        gaussian GLMMs)."""
        return self.is_linear

    @contextmanager
    def restoring_core(self):
        """Within this block the model's shared compiled core may be moved to other
        parameters (profiles, finite differences); on exit it is back at this fit's."""
        try:
            yield self.model
        finally:
            self._core_at_optimum()

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
        s2 = self.sigma ** 2 if self.has_dispersion else 1.0
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
        if self.has_dispersion:
            rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def condvar(self) -> dict:
        """Conditional covariances of the random effects: group -> array (nlev, k, k).

        lme4's ``condVar``/``postVar``: the diagonal blocks of
        sigma^2 Lambda (Lambda'Z'WZ Lambda + I)^-1 Lambda'.
        """
        out = []
        s2 = self.sigma ** 2 if self.has_dispersion else 1.0
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
        if self.has_dispersion:
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
        return lines + message_lines(self)

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
        from .report.html import result_html
        return result_html(self)

    # ---- tidy tables (broom.mixed) ---------------------------------------------------
    def tidy(self, effects=("fixed", "ran_pars"), conf_int=False, conf_level=0.95, **kwargs):
        """One row per estimate, as broom.mixed's tidy(): see :func:`pymer.tidy.tidy`."""
        from .report.tidy import tidy
        return tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level, **kwargs)

    def glance(self):
        """One row of model statistics, as broom.mixed's glance(): see :func:`pymer.tidy.glance`."""
        from .report.tidy import glance
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


class LMMResult(MixedModelResult):
    """A fitted linear mixed model (lme4's lmerMod).

    Attributes follow lme4's accessors: ``fixef``, ``theta``, ``sigma``,
    ``objective`` (REML criterion or deviance), ``loglik``, ``aic``, ``bic``,
    ``deviance``, ``nobs``, ``ngrps``, ``vcov``, ``varcorr``, ``ranef``,
    ``coef``, ``fitted``; methods ``residuals``, ``predict``, ``simulate``,
    ``refit``, ``update``, ``summary``, ``condvar``.
    """

    is_linear = True

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
                                    coef_lines(self._coef_table, digits=4), correlation)
        return Summary("\n".join(lines), self._coef_table.copy(), result=self)

    def _print_text(self):
        lines = self._header()
        lines += self._fit_stats_line(4)
        lines.append("Random effects:")
        lines += self._vc_lines(with_variance=False)
        lines.append(self._groups_line())
        lines.append("Fixed Effects:")
        lines += fixef_print_lines(self.fixef)
        lines += message_lines(self, printed=True)
        return "\n".join(lines)


def _update_formula(old: str, new: str) -> str:
    """R's update.formula for the common '. ~ . + x' / '. ~ . - x' forms, or a whole new formula."""
    if "." not in new.replace(" ", "").split("~")[0] and "~ ." not in new and "~." not in new:
        return new
    lhs_old, rhs_old = [s.strip() for s in old.split("~", 1)]
    lhs_new, rhs_new = [s.strip() for s in new.split("~", 1)]
    lhs = lhs_new.replace(".", lhs_old) if lhs_new == "." else lhs_new
    rhs = rhs_new.replace(".", f"{rhs_old}", 1) if rhs_new.startswith(".") else rhs_new
    if " - " in rhs:
        base, *drops = rhs.split(" - ")
        terms = [t.strip() for t in _split_top(base)]
        for d in drops:
            terms = [t for t in terms if t.replace(" ", "") != d.strip().replace(" ", "")]
        rhs = " + ".join(terms)
    return f"{lhs} ~ {rhs}"


def _split_top(s: str):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "+" and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [t for t in out if t.strip()]
