"""What every fitted mixed model has: lme4's accessors, VarCorr, conditional modes and
variances, prediction from new data, the print skeleton, the inference delegators."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
if TYPE_CHECKING:
    from ..checking.residuals import SimulatedResiduals
    from ..inference.bootmer import BootstrapResult
    from ..inference.profile import Profile
    from ..inference.table import AnovaTable
    from ..predictions.response import PredictedResponse
    from ..terms import RandomEffects
from contextlib import contextmanager
from functools import cached_property

import numpy as np
import pandas as pd

from .._core._selinv import diag_blocks_inverse
from ..errors import suggest_names
from ..report.rformat import abbreviate, format_real, varcorr_lines, zapsmall
from ..report.summary import Section, Summary, fixef_print_lines, message_lines


class MixedModelResult:
    """What LMM and GLMM fits share: random-effects bookkeeping and the tables built from it.

    Subclasses provide ``theta``, ``beta``, ``b`` (random effects on the
    original scale, lme4's order), ``sigma``, ``model``, ``objective``, ``df``,
    ``residuals()``, ``_vcov_matrix()`` and ``_core_at_optimum()``.
    """

    # set by the subclasses' __init__
    model: Any
    theta: np.ndarray
    beta: np.ndarray
    b: np.ndarray
    sigma: float
    objective: float

    if TYPE_CHECKING:
        # what the subclasses define (declared for the type checker only)
        @property
        def df(self) -> int: ...

        def residuals(self, type: Any = ..., scaled: bool = ...) -> np.ndarray: ...

        def _vcov_matrix(self) -> np.ndarray: ...

        def _core_at_optimum(self) -> Any: ...

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
    def restoring_core(self) -> Iterator[Any]:
        """Within this block the model's shared compiled core may be moved to other
        parameters (profiles, finite differences); on exit it is back at this fit's."""
        try:
            yield self.model
        finally:
            self._core_at_optimum()

    @property
    def re(self) -> RandomEffects:
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
        return float(self.objective + np.log(self.nobs) * self.df)

    @cached_property
    def ngrps(self) -> dict:
        """Number of levels of each grouping factor (each factor once, lme4's order)."""
        out: dict[str, int] = {}
        for t in self.re.terms:
            out.setdefault(t.group, t.nlev)
        return out

    @property
    def fixef_names(self) -> list:
        return list(self.model.fixef_names)

    @cached_property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates, with R's coefficient names."""
        # one Index per model, shared by its refits (with_response copies the model's
        # attributes): building it from the names costs more than the rest of a small refit
        index = self.model.__dict__.get("_fixef_index")
        if index is None or list(index) != self.fixef_names:
            index = self.model._fixef_index = pd.Index(self.fixef_names)
        return pd.Series(np.asarray(self.beta), index=index, name="fixef")

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

    def _vcov_from_RX(self, RX) -> np.ndarray:
        """sigma^2 (R_X' R_X)^-1: the covariance of beta-hat given theta (an LMM's vcov,
        a GLMM's at the conditional mode)."""
        Rinv = np.linalg.inv(RX) if RX.size else RX
        return self.sigma ** 2 * (Rinv @ Rinv.T)

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
        names: list[str] = []
        seen: dict[str, int] = {}
        for t in self.re.terms:
            k = seen.get(t.group, -1) + 1
            seen[t.group] = k
            names.append(t.group if k == 0 else f"{t.group}.{k}")
        return names

    @property
    def df_residual(self) -> int:
        return self.nobs - self.df

    def _residual_quantiles(self) -> np.ndarray:
        # nan: the rows na_action="na.exclude" pads back
        return np.nanquantile(self.residuals("pearson", scaled=True), [0, 0.25, 0.5, 0.75, 1])

    def _residuals_section(self) -> Section:
        """The summary's 'Scaled residuals' block: quantiles of the scaled Pearson residuals."""
        q = self._residual_quantiles()
        # lme4: zapsmall(quantiles, 5), printed with 4 significant digits
        vals = format_real(zapsmall(q, 5), 4)
        names = ["Min", "1Q", "Median", "3Q", "Max"]
        w = max(max(len(v) for v in vals), 6)
        lines = ("", "Scaled residuals: ", " ".join(n.rjust(w) for n in names) + " ",
                 " ".join(v.rjust(w) for v in vals) + " ")
        return Section("residuals", lines, (names, [v.strip() for v in vals]))

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's as.data.frame(VarCorr()): grp, var1, var2, vcov, sdcor.

        Where lme4 has NA (``var2`` of a variance, ``var1``/``var2`` of the residual) the
        table has NaN, in object columns whatever the model (so ``isna()`` finds them)."""
        rows = []
        for name, t, S in zip(self._vc_group_names(), self.re.terms, self._covariances()):
            sd = np.sqrt(np.diag(S))
            for i in range(t.k):
                rows.append((name, t.colnames[i], np.nan, S[i, i], sd[i]))
            for i in range(t.k):
                for j in range(i + 1, t.k):
                    corr = S[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                    rows.append((name, t.colnames[i], t.colnames[j], S[i, j], corr))
        if self.has_dispersion:
            rows.append(("Residual", np.nan, np.nan, self.sigma ** 2, self.sigma))
        out = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
        return out.astype({"grp": object, "var1": object, "var2": object})

    def condvar(self) -> dict:
        """Conditional covariances of the random effects: group -> array (nlev, k, k).

        lme4's ``condVar``/``postVar``: the diagonal blocks of
        sigma^2 Lambda (Lambda'Z'WZ Lambda + I)^-1 Lambda'.
        """
        s2 = self.sigma ** 2 if self.has_dispersion else 1.0
        # only the level blocks of A^-1, from the factor (selected inversion): work and
        # memory of the factor, not of q dense right-hand sides
        flat = diag_blocks_inverse(self._core_at_optimum())
        out, pos = [], 0
        for t, T in zip(self.re.terms, self.re.factors(self.theta)):
            k, nl = t.k, t.nlev
            blk = flat[pos:pos + nl * k * k].reshape(nl, k, k)
            pos += nl * k * k
            out.append(s2 * (T @ blk @ T.T) if k > 1 else (s2 * T[0, 0] ** 2) * blk)
        merged: dict[str, np.ndarray] = {}
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

    def ranef_table(self, condvar: bool = True) -> pd.DataFrame:
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

    def _napredict(self, values):
        """Per-observation values, padded with NaN at the rows dropped for missing values
        when the fit used ``na_action="na.exclude"`` (R's naresid/napredict)."""
        return self.model.mf.napredict(values)

    # ---- lme4's getME ------------------------------------------------------------
    #: the names :meth:`getme` knows (lme4's getME names; "glmer.nb.theta" as glmer_nb_theta)
    GETME_NAMES = ("X", "Z", "Zt", "Ztlist", "y", "mu", "u", "b", "Gp", "Lambda", "Lambdat", "Lind",
                   "Tlist", "ST", "RX", "RZX", "sigma", "flist", "fixef", "beta", "theta", "REML",
                   "is_REML", "n_rtrms", "n_rfacs", "N", "n", "p", "q", "p_i", "l_i", "q_i", "k", "m_i",
                   "m", "cnms", "offset", "lower", "devfun", "weights", "glmer_nb_theta")

    def getme(self, name: str) -> Any:
        """A piece of the fitted model by lme4's ``getME()`` name.

        Parameters
        ----------
        name : str
            ``"X"`` (fixed-effects model matrix, n x p), ``"Z"``/``"Zt"`` (random-effects
            model matrix and its transpose, sparse), ``"Ztlist"`` (Zt per term),
            ``"Lambda"``/``"Lambdat"`` (relative covariance factor at theta, sparse),
            ``"Lind"`` (1-based index of theta for each non-zero of Lambdat),
            ``"Tlist"``/``"ST"`` (per term: T, and lme4's ST form), ``"theta"``,
            ``"beta"``/``"fixef"``, ``"lower"`` (theta's lower bounds), ``"u"``
            (spherical random effects), ``"b"`` (= Lambda u), ``"RX"`` (upper triangular,
            R_X'R_X = X'WX - R_ZX'R_ZX), ``"RZX"``, ``"y"``, ``"mu"``, ``"offset"``,
            ``"weights"``, ``"sigma"``, ``"flist"`` (grouping factors), ``"cnms"`` (column
            names per term), ``"Gp"`` (group pointers into b), ``"n_rtrms"``, ``"n_rfacs"``, ``"n"``/``"N"``, ``"p"``, ``"q"``,
            ``"p_i"``, ``"l_i"``, ``"q_i"``, ``"k"``, ``"m_i"``, ``"m"``, ``"REML"``,
            ``"is_REML"``, ``"devfun"`` (the objective as a function, as
            ``dev_fun_only=True`` returns it), ``"glmer_nb_theta"``. Per-term pieces
            (Tlist, ST, cnms, Ztlist) are keyed by VarCorr's group names (a factor with
            several terms: "Subject", "Subject.1").
        """
        key = str(name).replace(".", "_") if isinstance(name, str) else name
        if key not in self.GETME_NAMES:
            sugg = suggest_names(str(name), list(self.GETME_NAMES))
            raise ValueError(f"unknown getme name {name!r}" + (f"; did you mean {sugg[0]!r}?" if sugg else "")
                             + f" (known: {', '.join(self.GETME_NAMES)})")
        return self._getme(key)

    def _getme(self, key):
        re, model = self.re, self.model
        terms = re.terms
        if key == "X":
            return pd.DataFrame(np.asarray(model.X), columns=self.fixef_names)
        if key == "Z":
            return re.Z().tocsc()
        if key == "Zt":
            return re.Z().T.tocsc()
        if key == "Ztlist":
            Zt = re.Z().T.tocsr()
            return {g: Zt[re.col_offsets[i]:re.col_offsets[i + 1]]
                    for i, g in enumerate(self._vc_group_names())}
        if key == "Lambda":
            return re.Lambda(self.theta)
        if key == "Lambdat":
            return re.Lambda(self.theta).T.tocsc()
        if key == "Lind":
            Lt = re.Lambda(np.arange(1.0, re.ntheta + 1)).T.tocsc()
            Lt.sort_indices()
            return np.asarray(Lt.data, dtype=np.int64)
        if key == "Tlist":
            return dict(zip(self._vc_group_names(), re.factors(self.theta)))
        if key == "ST":
            out = {}
            for g, T in zip(self._vc_group_names(), re.factors(self.theta)):
                d = np.diag(T).copy()
                with np.errstate(divide="ignore", invalid="ignore"):
                    S = np.where(d[None, :] != 0, T / d[None, :], 0.0)
                np.fill_diagonal(S, d)
                out[g] = S
            return out
        if key in ("theta",):
            return pd.Series(self.theta, index=self.theta_names)
        if key in ("beta", "fixef"):
            return np.asarray(self.beta).copy() if key == "beta" else self.fixef.copy()
        if key == "lower":
            return re.lower_bounds()
        if key == "u":
            return np.asarray(self.u).copy()
        if key == "b":
            return np.asarray(self.b).copy()
        if key in ("RX", "RZX"):
            return self._getme_factor(key)
        if key == "y":
            return np.asarray(model.y).copy()
        if key == "mu":
            return np.asarray(getattr(self, "mu", None) if not self.is_linear else self._eta).copy()
        if key == "offset":
            return np.asarray(model.offset).copy()
        if key == "weights":
            w = getattr(model, "pw", None) if not self.is_linear else model.weights
            return np.ones(self.nobs) if w is None else np.asarray(w).copy()
        if key == "sigma":
            return float(self.sigma)
        if key == "flist":
            return {t.group: pd.Categorical.from_codes(t.codes, categories=t.levels) for t in terms}
        if key == "cnms":
            return {g: list(t.colnames) for g, t in zip(self._vc_group_names(), terms)}
        if key == "Gp":
            return np.asarray(re.col_offsets, dtype=np.int64).copy()
        if key == "n_rtrms":
            return len(terms)
        if key == "n_rfacs":
            return len({t.group for t in terms})
        if key in ("n", "N"):
            return self.nobs
        if key == "p":
            return int(model.p)
        if key == "q":
            return int(re.q)
        if key == "p_i":
            return np.array([t.k for t in terms], dtype=np.int64)
        if key == "l_i":
            return np.array([t.nlev for t in terms], dtype=np.int64)
        if key == "q_i":
            return np.array([t.k * t.nlev for t in terms], dtype=np.int64)
        if key == "k":
            return len(terms)
        if key == "m_i":
            return np.array([t.ntheta for t in terms], dtype=np.int64)
        if key == "m":
            return int(re.ntheta)
        if key in ("REML", "is_REML"):
            reml = bool(getattr(self, "REML", False))
            return reml if key == "is_REML" else int(model.p if reml else 0)
        if key == "devfun":
            return self._devfun()
        if key == "glmer_nb_theta":
            fam = getattr(self, "family", None)
            if fam is None or fam.name != "negative.binomial":
                raise ValueError("glmer_nb_theta is only defined for a negative binomial fit")
            return float(fam.theta)
        raise AssertionError(key)       # every name in GETME_NAMES is handled above

    def _getme_factor(self, key):
        """R_X or R_ZX at the fit (a GLMM's at the working weights of its mode)."""
        if self.is_linear:
            core = self._core_at_optimum()
            return np.array(core.RX if key == "RX" else core.RZX)
        RX = self.model.RX_at(self.theta, self.beta, self.u)
        return np.array(RX if key == "RX" else self.model.core_joint.RZX)

    def _devfun(self):
        """The model's objective as a function (lme4's getME(m, "devfun"))."""
        nagq = getattr(self, "nAGQ", None)
        return self.model.dev_fun() if nagq is None else self.model.dev_fun(nagq)

    # ---- linear predictor -------------------------------------------------------
    @cached_property
    def _Zb(self):
        return np.asarray(self.re.Z() @ self.b)

    @cached_property
    def _eta(self):
        """Linear predictor X beta + Z b + offset of the fitted data."""
        return self.model.X @ self.beta + self._Zb + self.model.offset

    @cached_property
    def _ZLambda(self):
        """Z Lambda at this fit's theta (CSR), built once: simulations draw Z Lambda u."""
        return (self.re.Z() @ self.re.Lambda(self.theta)).tocsr()

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
        return varcorr_lines(header, rows)

    def _groups_line(self):
        parts = "; ".join(f"{g}, {n}" for g, n in self.ngrps.items())
        return f"Number of obs: {self.nobs}, groups:  {parts}"

    def _varcorr_section(self, with_variance=True, heading=("", "Random effects:")) -> Section:
        groups = self._groups_line()
        lines = tuple(heading) + tuple(self._vc_lines(with_variance)) + (groups,)
        return Section("varcorr", lines, {"varcorr": self.varcorr, "with_variance": with_variance,
                                          "groups": groups})

    def _summary_sections(self, head, stats, coefficients, coef_text, correlation=True):
        """The sections every summary() prints: `head` (title, formula, data), the fit
        statistics `stats` (a Section), scaled residuals, random effects, the
        fixed-effects table `coefficients` (printed as `coef_text`), their
        correlations and the convergence messages."""
        out = [Section("header", tuple(head)), stats, self._residuals_section(),
               self._varcorr_section(),
               Section("coefficients", ("", "Fixed effects:") + tuple(coef_text), coefficients)]
        if correlation:
            corr = self._corr_lines()
            if corr:
                p = len(self.fixef_names)
                out.append(Section("correlation", tuple(corr), self.vcov if p <= 12 else None))
        out.append(Section("messages", tuple(message_lines(self))))
        return out

    def _print_sections(self):
        """print(m): header, fit statistics, random-effect SDs, fixed effects, a warnings line."""
        return [Section("header", tuple(self._header())), self._stats_section(4),
                self._varcorr_section(with_variance=False, heading=("Random effects:",)),
                Section("fixef", ("Fixed Effects:",) + tuple(fixef_print_lines(self.fixef)), self.fixef),
                Section("messages", tuple(message_lines(self, printed=True)))]

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
        return Summary(self._print_sections()).text

    def __str__(self):
        return repr(self)

    def _repr_html_(self):
        return Summary(self._print_sections())._repr_html_()

    # ---- inference (pymer.inference) ---------------------------------------------
    def drop1(self, test: str = "Chisq", k: float = 2.0) -> AnovaTable:
        """Single-term deletions with likelihood-ratio tests: see :func:`pymer.drop1`."""
        from ..inference import drop1
        return drop1(self, test=test, k=k)

    def confint(self, parm: str | list[str] | None = None, level: float = 0.95,
                method: str = "profile", **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals ("profile", the default as in lme4, "wald" or "boot"):
        see :func:`pymer.confint`. GLMM profile intervals re-optimize the Laplace
        deviance over all other parameters; they are not available for nAGQ = 0 fits
        or families with a dispersion parameter (NotImplementedError)."""
        from ..inference import confint
        return confint(self, parm=parm, level=level, method=method, **kwargs)

    def profile(self, which: str | list[str] | None = None, **kwargs: Any) -> Profile:
        """The deviance profile of each parameter (sd/cor on the sd scale, then the
        fixed effects), lme4's profile(): see :func:`pymer.profile`."""
        from ..inference.profile import profile
        return profile(self, which=which, **kwargs)

    def bootstrap(self, func: Callable[[Any], Any], nsim: int = 100, seed: int | None = None, n_jobs: int = 1,
                  progress: Any = None, **kwargs: Any) -> BootstrapResult:
        """Parametric bootstrap of func(refit), lme4's bootMer: see :func:`pymer.bootstrap`."""
        from ..inference import bootstrap
        return bootstrap(self, func, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress, **kwargs)

    # ---- checking and predictions (pymer.checking, pymer.predictions) ----------------
    def simulate_residuals(self, n_sim: int = 250, seed: int | None = 123, refit: bool = False,
                           conditional: bool = True) -> SimulatedResiduals:
        """DHARMa's scaled (quantile) residuals from simulations: see :func:`pymer.simulate_residuals`."""
        from ..checking import simulate_residuals
        return simulate_residuals(self, n_sim=n_sim, seed=seed, refit=refit, conditional=conditional)

    def predict_response(self, terms: str | list[str], margin: str = "mean_reference", type: str = "fixed",
                         ci_level: float = 0.95) -> PredictedResponse:
        """ggeffects' predictions for focal terms: see :func:`pymer.predict_response`."""
        from ..predictions import predict_response
        return predict_response(self, terms, margin=margin, type=type, ci_level=ci_level)

    def augment(self) -> pd.DataFrame:
        """broom.mixed's augment(): the data with fitted values and residuals: see :func:`pymer.augment`."""
        from ..predictions import augment
        return augment(self)

    # ---- tidy tables (broom.mixed) ---------------------------------------------------
    def tidy(self, effects: str | tuple[str, ...] | list[str] = ("fixed", "ran_pars"), conf_int: bool = False,
             conf_level: float = 0.95, **kwargs: Any) -> pd.DataFrame:
        """One row per estimate, as broom.mixed's tidy(): see :func:`pymer.tidy.tidy`."""
        from ..report.tidy import tidy
        return tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level, **kwargs)

    def glance(self) -> pd.DataFrame:
        """One row of model statistics, as broom.mixed's glance(): see :func:`pymer.tidy.glance`."""
        from ..report.tidy import glance
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
