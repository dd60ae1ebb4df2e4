"""General linear hypotheses K beta = m with simultaneous inference (multcomp's glht).

Hothorn, Bretz & Westfall (2008), "Simultaneous inference in general parametric
models": the statistics T = D^-1/2 (K beta-hat - m), D = diag(K V K'), are jointly
normal (mixed models, as multcomp treats merMod fits) with correlation
R = D^-1/2 K V K' D^-1/2; single-step p-values and intervals use the distribution of
max |T_j| (or max T_j for one-sided hypotheses).
"""
from __future__ import annotations

from typing import Any, Literal
from numpy.typing import ArrayLike

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import warn
from ..formula.syntax import _Name
from . import adjust as adj
from .printing import glht_confint_lines, glht_lines

_TESTS = ("single-step", "univariate", "holm", "hochberg", "bonferroni", "BH", "BY", "fdr", "none")


def _factor_term(m, factor: str):
    """The design's factor variable, the columns of its main effect and its contrast
    matrix (levels x columns), and whether it appears in interactions."""
    design = m.model.mf._spec.fixed
    vis = [i for i, v in enumerate(design.vars) if isinstance(v.node, _Name) and v.node.name == factor]
    if not vis or design.vars[vis[0]].kind != "fac":
        facs = [v.key for v in design.vars if v.kind == "fac"]
        raise ValueError(f"mcp: {factor!r} is not a factor of the model's fixed effects "
                         f"(factors: {', '.join(facs) or 'none'})")
    vi = vis[0]
    terms = [k for k, t in enumerate(design.terms) if t == (vi,)]
    if not terms:
        raise ValueError(f"mcp: {factor!r} has no main effect in the model")
    ti = terms[0]
    C, cn = design.contrast(vi, design.codings[ti][0])
    names = [design.vars[vi].key + c for c in cn]
    interacts = any(vi in t and len(t) > 1 for t in design.terms)
    return design.vars[vi].levels, names, C, interacts


def _mcp_matrix(m, factor: str, kind: str):
    kind_key = str(kind).capitalize()
    levels, names, C, interacts = _factor_term(m, factor)
    k = len(levels)
    rows, labels = [], []
    if kind_key == "Tukey":
        pairs = [(j, i) for i in range(k) for j in range(i + 1, k)]
    elif kind_key == "Dunnett":
        pairs = [(j, 0) for j in range(1, k)]
    else:
        raise ValueError(f"mcp: contrast type {kind!r} for {factor!r}: use 'Tukey' or 'Dunnett'")
    for a, b in pairs:
        w = np.zeros(k)
        w[a], w[b] = 1.0, -1.0
        rows.append(w @ C)
        labels.append(f"{levels[a]} - {levels[b]}")
    if interacts:
        warn(f"mcp: {factor!r} is in interactions with other terms; the contrasts compare "
             "its levels at the reference levels (zero) of the others and might be inappropriate",
             UserWarning)
    fixef = list(m.fixef_names)
    K = np.zeros((len(rows), len(fixef)))
    for j, nm in enumerate(names):
        if nm in fixef:
            K[:, fixef.index(nm)] = [r[j] for r in rows]
    return K, labels, kind_key


def _matrix(m, linfct):
    fixef = list(m.fixef_names)
    if isinstance(linfct, pd.DataFrame):
        bad = [c for c in linfct.columns if c not in fixef]
        if bad:
            raise ValueError(f"linfct: column {bad[0]!r} is not a fixed effect of the model "
                             f"(coefficients: {', '.join(fixef)})")
        K = np.zeros((len(linfct), len(fixef)))
        vals = linfct.to_numpy(dtype=np.float64)
        for j, c in enumerate(linfct.columns):
            K[:, fixef.index(c)] = vals[:, j]
        labels = [str(x) for x in linfct.index]
    else:
        K = np.atleast_2d(np.asarray(linfct, dtype=np.float64))
        if K.ndim != 2 or K.shape[1] != len(fixef):
            raise ValueError(f"linfct has {K.shape[-1]} columns; the model has {len(fixef)} fixed "
                             f"effects ({', '.join(fixef)}); give a DataFrame with coefficient "
                             "names as columns to use some of them")
        labels = [str(i + 1) for i in range(K.shape[0])]
    if not np.all(np.isfinite(K)):
        raise ValueError("linfct has missing or non-finite entries")
    return K, labels


class GLHT:
    """Linear hypotheses K beta = rhs of a fitted model (multcomp's ``glht`` object)."""

    def __init__(self, m: Any, K: np.ndarray, labels: list[str], rhs: np.ndarray | float, alternative: str,
                 kind: str | None, term: str | None, df: float) -> None:
        self.model = m
        self.linfct = pd.DataFrame(K, index=labels, columns=list(m.fixef_names))
        self.rhs = rhs
        self.alternative = alternative
        self.kind = kind
        self.term = term
        self.df = df
        V = m.vcov.to_numpy()
        self.estimate = K @ np.asarray(m.beta)
        VK = K @ V @ K.T
        self.se = np.sqrt(np.diag(VK))
        self.statistic = (self.estimate - rhs) / self.se
        self.corr = VK / np.outer(self.se, self.se)

    @property
    def _stat_name(self):
        return "z" if not np.isfinite(self.df) else "t"

    def _univariate(self):
        t, df = self.statistic, self.df
        dist = stats.norm if not np.isfinite(df) else stats.t(df)
        if self.alternative == "two.sided":
            return 2 * dist.sf(np.abs(t))
        return dist.sf(t) if self.alternative == "greater" else dist.cdf(t)

    def pvalues(self, test: str = "single-step") -> np.ndarray:
        if test not in _TESTS:
            raise ValueError(f"test={test!r}: use one of {', '.join(_TESTS)}")
        if test == "single-step":
            return adj.single_step(self.statistic, self.corr, self.df, self.alternative)
        p = self._univariate()
        if test == "univariate":
            return p
        return adj.p_adjust(p, "BH" if test == "fdr" else test)

    def _hyp_names(self):
        op = {"two.sided": "==", "greater": "<=", "less": ">="}[self.alternative]
        return [f"{n} {op} {r:g}" for n, r in zip(self.linfct.index, self.rhs)]

    def _fit(self):
        m = self.model
        fn = "glmer" if getattr(m, "family", None) is not None else "lmer"
        return f"{fn}(formula = {m.model.mf.formula})"

    def summary(self, test: str = "single-step") -> "GLHTSummary":
        """Tests of the hypotheses: single-step (multivariate normal/t) adjusted
        p-values, or "univariate", "holm", "hochberg", "bonferroni", "BH", "BY", "none"."""
        return GLHTSummary(self, test, self.pvalues(test))

    def confint(self, level: float = 0.95,
                calpha: Literal["single-step", "univariate"] = "single-step") -> pd.DataFrame:
        """Simultaneous (``calpha="single-step"``) or per-hypothesis ("univariate")
        confidence intervals: columns Estimate, lwr, upr; ``.attrs["quantile"]``."""
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, not {level!r}")
        if calpha == "single-step":
            q = adj.single_step_quantile(level, self.corr, self.df, self.alternative)
        elif calpha == "univariate":
            side = 2 if self.alternative == "two.sided" else 1
            a = 1 - (1 - level) / side
            q = stats.norm.ppf(a) if not np.isfinite(self.df) else stats.t.ppf(a, self.df)
        else:
            raise ValueError(f"calpha={calpha!r}: use 'single-step' or 'univariate'")
        lwr = self.estimate - q * self.se
        upr = self.estimate + q * self.se
        if self.alternative == "greater":
            upr = np.full_like(upr, np.inf)
        elif self.alternative == "less":
            lwr = np.full_like(lwr, -np.inf)
        out = pd.DataFrame({"Estimate": self.estimate, "lwr": lwr, "upr": upr}, index=self._hyp_names())
        out.attrs["quantile"] = q
        out.attrs["level"] = level
        return out

    def print_confint(self, level: float = 0.95) -> str:
        ci = self.confint(level)
        return "\n".join(glht_confint_lines(self.kind, self._fit(), ci.attrs["quantile"], level, ci))

    def tidy(self, test: str = "single-step") -> pd.DataFrame:
        """broom's tidy of summary(glht): term (mcp), contrast, null.value, estimate,
        std.error, statistic, adj.p.value."""
        return self.summary(test).tidy()

    def __repr__(self):
        est = pd.Series(self.estimate, index=self._hyp_names())
        return "General Linear Hypotheses\n\nLinear Hypotheses:\n" + est.to_string()


class GLHTSummary:
    """summary(glht): the hypotheses' estimates, SEs, statistics and adjusted p-values."""

    def __init__(self, g: GLHT, test: str, p: np.ndarray) -> None:
        self.glht = g
        self.test = test
        s = g._stat_name
        pcol = {"two.sided": f"Pr(>|{s}|)", "greater": f"Pr(>{s})", "less": f"Pr(<{s})"}[g.alternative]
        self.table = pd.DataFrame({"Estimate": g.estimate, "Std. Error": g.se,
                                   f"{s} value": g.statistic, pcol: p}, index=g._hyp_names())

    @property
    def pvalues(self) -> np.ndarray:
        return self.table.iloc[:, 3].to_numpy()

    def tidy(self) -> pd.DataFrame:
        g = self.glht
        d: dict[str, ArrayLike] = {}
        if g.term is not None:
            d["term"] = [g.term] * len(g.estimate)
        d.update({"contrast": list(g.linfct.index), "null.value": g.rhs, "estimate": g.estimate,
                  "std.error": g.se, "statistic": g.statistic, "adj.p.value": self.pvalues})
        return pd.DataFrame(d)

    def __str__(self):
        g = self.glht
        foot = {"single-step": "(Adjusted p values reported -- single-step method)",
                "univariate": "(Univariate p values reported)"}.get(
            self.test, f"(Adjusted p values reported -- {self.test} method)")
        # below the integration's error bound p-values print as '<eps': the bivariate
        # case is exact (1e-10), larger families carry Genz's abseps (0.001)
        eps = None if self.test != "single-step" else (1e-10 if len(g.estimate) <= 2 else 1e-3)
        return "\n".join(glht_lines("Simultaneous Tests for General Linear Hypotheses", g.kind,
                                    g._fit(), self.table, foot, eps))

    __repr__ = __str__


def glht(m: Any, linfct: ArrayLike | pd.DataFrame | None = None, *, mcp: dict | None = None,
         alternative: Literal["two.sided", "less", "greater"] = "two.sided", rhs: ArrayLike = 0.0,
         df: float | None = None) -> GLHT:
    """General linear hypotheses and multiple comparisons (R's ``multcomp::glht``).

    Parameters
    ----------
    m : LMMResult or GLMMResult
    linfct : array_like or DataFrame, optional
        The hypotheses' matrix K: (k, p) over ``m.fixef``, or a DataFrame whose
        columns are coefficient names (the others get 0) and whose index names the
        hypotheses.
    mcp : dict, optional
        ``{"factor": "Tukey" | "Dunnett"}``: all pairwise comparisons of the factor's
        levels, or each level against the first (multcomp's ``mcp``).
    alternative : {"two.sided", "less", "greater"}
    rhs : float or array_like
        The hypothesised values m of K beta.
    df : float, optional
        Degrees of freedom of a multivariate t; default normal (z), as multcomp
        treats lmer and glmer fits.

    Returns
    -------
    GLHT
        ``.summary(test=)``, ``.confint(level)``, ``.tidy()``.
    """
    if alternative not in ("two.sided", "less", "greater"):
        raise ValueError(f"alternative must be 'two.sided', 'less' or 'greater', not {alternative!r}")
    if (linfct is None) == (mcp is None):
        raise ValueError("give either linfct (a matrix) or mcp={'factor': 'Tukey'}")
    kind, term = None, None
    if mcp is not None:
        if not isinstance(mcp, dict) or not mcp:
            raise ValueError("mcp must be a dict factor -> 'Tukey' or 'Dunnett'")
        parts = [_mcp_matrix(m, f, k) for f, k in mcp.items()]
        K = np.vstack([p[0] for p in parts])
        labels = [lab for p in parts for lab in p[1]]
        kinds = {p[2] for p in parts}
        kind = kinds.pop() if len(kinds) == 1 else None
        term = next(iter(mcp)) if len(mcp) == 1 else None
    else:
        K, labels = _matrix(m, linfct)
    r = np.broadcast_to(np.asarray(rhs, dtype=np.float64), (K.shape[0],)).copy() \
        if np.ndim(rhs) == 0 or np.size(rhs) == K.shape[0] else None
    if r is None:
        raise ValueError(f"rhs has {np.size(rhs)} values; there are {K.shape[0]} hypotheses")
    if np.any(~K.any(axis=1)):
        raise ValueError("linfct has a row of zeros (a hypothesis on no coefficient)")
    dfv = np.inf if df is None else float(df)
    return GLHT(m, K, labels, r, alternative, kind, term, dfv)
