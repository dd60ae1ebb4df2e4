"""Estimated marginal means and their contrasts (Lenth's emmeans method).

A marginal mean is a linear function l'beta of the fixed effects: the reference grid's
rows (:mod:`pymer.contrasts.grid`) averaged with equal weights over the variables not
asked for. Contrasts are linear combinations of those means. For lmer fits the
covariance of beta-hat and the degrees of freedom of each l'beta come from
Kenward-Roger (the bias-adjusted covariance, emmeans' default) or Satterthwaite
(:mod:`pymer.inference`); GLMMs use the asymptotic (z) theory.
"""
from __future__ import annotations

from typing import Any, Literal
import numpy as np
import pandas as pd
from scipy import stats

from ..formula import contr_poly
from ..inference.ddf import _kenward_roger, _satterthwaite
from . import adjust as adj
from .grid import RefGrid, ref_grid
from .printing import emm_lines

KR_LIMIT = 3000          # emmeans' pbkrtest.limit and lmerTest.limit: beyond, asymptotic df
_DEFAULT_ADJUST = {"pairwise": "tukey", "revpairwise": "tukey", "trt.vs.ctrl": "dunnettx",
                   "consec": "mvt", "poly": "none"}
_DEGREE = ["linear", "quadratic", "cubic", "quartic"]


# ---------------------------------------------------------------- inference -----

def _is_glmm(m) -> bool:
    return getattr(m, "family", None) is not None


def _ddf(m, ddf):
    """(method label, covariance of beta-hat, df function of a row l)."""
    resid_df = getattr(m, "emmeans_df", None)
    if resid_df is not None and ddf is None:
        # a fit that names its own degrees of freedom (glmmTMB's: df.residual, as emmeans)
        return "df.residual", m.vcov.to_numpy(), lambda l: float(resid_df)
    if _is_glmm(m):
        if ddf is not None and str(ddf).lower() not in ("asymptotic", "asymp"):
            raise ValueError(f"ddf={ddf!r}: GLMM fits use asymptotic (z) inference; "
                             "use ddf='asymptotic' or leave it out")
        return "asymptotic", m.vcov.to_numpy(), lambda l: np.inf
    key = "kenward-roger" if ddf is None else str(ddf).lower().replace("_", "-").replace(" ", "-")
    if ddf is None and m.nobs > KR_LIMIT:
        key = "asymptotic"
    if key in ("kenward-roger", "kr", "kenward"):
        kr = _kenward_roger(m)
        return "kenward-roger", kr.PhiA, lambda l: float(kr.ddf_scale(l[None, :])[0])
    if key in ("satterthwaite", "satterth"):
        s = _satterthwaite(m)
        return "satterthwaite", s.C, lambda l: float(s.df(l))
    if key in ("asymptotic", "asymp"):
        return "asymptotic", m.vcov.to_numpy(), lambda l: np.inf
    raise ValueError(f"ddf={ddf!r}: use 'Kenward-Roger', 'Satterthwaite' or 'asymptotic'")


def _mu_eta(fam, eta):
    """The mean and d mu / d eta at eta (the delta method's factor), from the family's
    inverse link (lme4's and glmmTMB's families alike)."""
    eta = np.asarray(eta, dtype=np.float64)
    h = 1e-6 * np.maximum(1.0, np.abs(eta))
    return fam.linkinv(eta), (fam.linkinv(eta + h) - fam.linkinv(eta - h)) / (2 * h)


def _estimate(m, L, off, V, dffun):
    est = L @ np.asarray(m.beta) + off
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
    df = np.array([dffun(l) for l in L])
    return est, se, df


def _crit(level, df):
    df = np.asarray(df, dtype=np.float64)
    q = (1 + level) / 2
    return np.where(np.isfinite(df), stats.t.ppf(q, np.where(np.isfinite(df), df, 1.0)), stats.norm.ppf(q))


# ---------------------------------------------------------------- specs ---------

def _split(text: str, ops=("*", "+", ":")) -> list[str]:
    for op in ops:
        text = text.replace(op, " ")
    return [t for t in text.split() if t]


def _parse_specs(specs, by):
    if isinstance(specs, str):
        s = specs.strip()
        if "~" in s:
            raise ValueError(f"specs={specs!r}: give the variables ('f', 'f1 * f2', 'f1 | f2') and "
                             "the contrasts with contrasts=, e.g. emmeans(m, 'f', contrasts='pairwise')")
        parts = s.split("|")
        if len(parts) > 2:
            raise ValueError(f"specs={specs!r}: at most one '|'")
        names = _split(parts[0])
        bys = _split(parts[1]) if len(parts) == 2 else []
    else:
        names, bys = [str(x) for x in specs], []
    if by is not None:
        bys += [by] if isinstance(by, str) else list(by)
    if not names:
        raise ValueError(f"specs={specs!r} names no variable")
    return names, bys


def _check_specs(grid: RefGrid, names, at):
    known = grid.names()
    for n in names:
        if n not in known:
            raise ValueError(f"specs: {n!r} is not a variable of the model's fixed effects "
                             f"(variables: {', '.join(known) or 'none'})")
        v = grid.var(n)
        if not v.is_factor and n not in (at or {}):
            raise ValueError(f"specs: {n!r} is a numeric covariate; give the values to compare "
                             f"with at={{'{n}': [...]}}")


# ---------------------------------------------------------------- contrasts -----

def _poly_integer(k: int) -> np.ndarray:
    """contr.poly's orthogonal polynomials scaled to the smallest integers."""
    P = contr_poly(k)
    out = np.empty_like(P)
    for j in range(P.shape[1]):
        c = P[:, j] / np.min(np.abs(P[:, j][np.abs(P[:, j]) > 1e-8]))
        for mult in range(1, 1000):
            if np.allclose(c * mult, np.round(c * mult), atol=1e-6):
                break
        out[:, j] = np.round(c * mult)
    return out.T


def contrast_coefs(method: str | dict, labels: list[str], sep: str = " - ") -> tuple[np.ndarray, list[str]]:
    """Coefficient matrix (ncontrasts, k) over k means and the contrasts' labels."""
    k = len(labels)
    rows, names = [], []

    def diff(i, j):
        r = np.zeros(k)
        r[i], r[j] = 1.0, -1.0
        rows.append(r)
        names.append(f"{labels[i]}{sep}{labels[j]}")

    if isinstance(method, dict):
        for name, w in method.items():
            w = np.asarray(w, dtype=np.float64).ravel()
            if w.size != k or not np.all(np.isfinite(w)):
                raise ValueError(f"contrasts: {name!r} has {w.size} weights; it needs {k} finite "
                                 f"weights, one per mean ({', '.join(labels)})")
            if not w.any():
                raise ValueError(f"contrasts: {name!r} has all weights zero")
            rows.append(w)
            names.append(str(name))
    elif method == "pairwise":
        for i in range(k):
            for j in range(i + 1, k):
                diff(i, j)
    elif method == "revpairwise":
        for j in range(k):
            for i in range(j):
                diff(j, i)
    elif method == "trt.vs.ctrl":
        for j in range(1, k):
            diff(j, 0)
    elif method == "consec":
        for j in range(1, k):
            diff(j, j - 1)
    elif method == "poly":
        if k < 2:
            raise ValueError("contrasts='poly' needs at least 2 means")
        P = _poly_integer(k)
        rows.extend(P)
        names.extend(_DEGREE[d] if d < 4 else f"degree {d + 1}" for d in range(P.shape[0]))
    else:
        raise ValueError(f"contrasts={method!r}: use 'pairwise', 'revpairwise', 'trt.vs.ctrl', "
                         "'consec', 'poly' or a dict name -> weights")
    if not rows:
        raise ValueError(f"contrasts={method!r}: no contrasts among {k} mean(s)")
    return np.vstack(rows), names


# ---------------------------------------------------------------- result --------

class EmmeansResult:
    """emmeans' result: ``.emmeans`` (the marginal means) and ``.contrasts`` (or None),
    both DataFrames with emmeans' columns; ``print()`` shows them as emmeans does."""

    def __init__(self, emmeans: pd.DataFrame, contrasts: pd.DataFrame | None, notes_emm: list[str],
                 notes_con: list[str], names: list[str], bys: list[str], right: Any = ()) -> None:
        self._right = list(right)
        self.emmeans = emmeans
        self.contrasts = contrasts
        self._notes_emm = notes_emm
        self._notes_con = notes_con
        self._names = names
        self._bys = bys

    def __str__(self):
        lines = []
        if self.contrasts is not None:
            lines.append("$emmeans")
        lines += emm_lines(self.emmeans, self._bys, self._notes_emm, self._right)
        if self.contrasts is not None:
            lines += ["", "$contrasts"]
            lines += emm_lines(self.contrasts, self._bys, self._notes_con)
        return "\n".join(lines)

    __repr__ = __str__


def emmeans(m: Any, specs: str | list[str], contrasts: str | dict | None = None, *,
            by: str | list[str] | None = None, at: dict | None = None,
            type: Literal["link", "response"] = "link", adjust: str | None = None,
            ddf: str | None = None,
            level: float = 0.95) -> EmmeansResult:
    """Estimated marginal means, and contrasts among them (R's ``emmeans::emmeans``).

    Parameters
    ----------
    m : LMMResult or GLMMResult
        An lmer, glmer or glmer_nb fit.
    specs : str or list of str
        The factors to give means for: ``"f"``, ``"f1 * f2"``, ``"f1 | f2"`` (means of
        f1 within each level of f2).
    contrasts : {None, "pairwise", "revpairwise", "trt.vs.ctrl", "consec", "poly"} or dict
        Contrasts among the means (within each ``by`` group); a dict maps a name to
        one weight per mean.
    by : str or list of str, optional
        Grouping variables (as after ``|`` in specs).
    at : dict, optional
        Variable -> value(s) for the reference grid: numeric covariates default to
        their mean, factors to all their levels.
    type : {"link", "response"}
        GLMMs: means on the link scale, or back-transformed (``prob``, ``rate``,
        ``response``) with delta-method SEs and back-transformed intervals; contrasts
        of log and logit links become ratios and odds ratios.
    adjust : str, optional
        P-value adjustment of the contrasts: "tukey", "dunnettx", "sidak", "scheffe",
        "mvt", "holm", "hochberg", "bonferroni", "BH", "BY", "none". Default as
        emmeans: tukey (pairwise), dunnettx (trt.vs.ctrl), mvt (consec), none otherwise.
    ddf : {"Kenward-Roger", "Satterthwaite", "asymptotic"}, optional
        lmer fits: degrees-of-freedom method (default Kenward-Roger, with its adjusted
        covariance; asymptotic beyond 3000 observations, as emmeans). GLMMs: asymptotic.
    level : float
        Confidence level of the intervals of the means.

    Returns
    -------
    EmmeansResult
        ``.emmeans`` and ``.contrasts`` DataFrames, printed as emmeans prints them.
    """
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise ValueError(f"level must be a number between 0 and 1, not {level!r}")
    names, bys = _parse_specs(specs, by)
    grid = ref_grid(m, at)
    _check_specs(grid, names + bys, at)
    method, V, dffun = _ddf(m, ddf)
    combos, L, off = grid.marginal(names + bys)
    est, se, df = _estimate(m, L, off, V, dffun)

    glmm = _is_glmm(m)
    link = m.family.link if glmm else "identity"
    response = type == "response" and link != "identity"
    asym = not np.any(np.isfinite(df))
    lab = {n: [grid.var(n).labels[c[i]] for c in combos] for i, n in enumerate(names + bys)}
    averaged = [v.name for v in grid.vars if v.name not in names + bys and len(v.values) > 1]

    crit = _crit(level, df)
    lo, hi = est - crit * se, est + crit * se
    col = "emmean"
    if response:
        fam = m.family
        mu, dmu = _mu_eta(fam, est)
        lo, hi = fam.linkinv(lo), fam.linkinv(hi)
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        est, se = mu, se * np.abs(dmu)
        col = {"binomial": "prob", "poisson": "rate"}.get(fam.name, "response")
    lcl, ucl = ("asymp.LCL", "asymp.UCL") if asym else ("lower.CL", "upper.CL")
    emm = pd.DataFrame({**lab, col: est, "SE": se, "df": df, lcl: lo, ucl: hi})

    notes = []
    if averaged:
        notes.append("Results are averaged over the levels of: " + ", ".join(averaged))
    if glmm and not response and link != "identity":
        notes.append(f"Results are given on the {link} (not the response) scale.")
    if not glmm:
        notes.append(f"Degrees-of-freedom method: {method}")
    notes.append(f"Confidence level used: {level:g}")
    if response:
        notes.append(f"Intervals are back-transformed from the {link} scale")

    con, notes_con = None, []
    if contrasts is not None:
        con, notes_con = _contrasts(m, grid, names, bys, combos, L, off, V, dffun, contrasts,
                                    adjust, method, glmm, link, type == "response", averaged)
    numeric_levels = [n for n in names + bys if grid.var(n).numeric]
    return EmmeansResult(emm, con, notes, notes_con, names, bys, numeric_levels)


def _row_labels(grid, names, combos):
    out = []
    for c in combos:
        parts = []
        for i, n in enumerate(names):
            v = grid.var(n)
            lab = v.labels[c[i]]
            parts.append(f"{n}{lab}" if v.numeric_levels else lab)
        out.append(" ".join(parts))
    return out


def _contrasts(m, grid, names, bys, combos, L, off, V, dffun, contrasts, adjust, method,
               glmm, link, response, averaged):
    ratio = response and link in ("log", "logit")
    key = contrasts if isinstance(contrasts, str) else "custom"
    if isinstance(contrasts, str) and contrasts not in _DEFAULT_ADJUST:
        contrast_coefs(contrasts, ["a", "b"])     # raises the error naming the choices
    method_adj = adj.check_method(adjust) if adjust is not None else _DEFAULT_ADJUST.get(key, "none")
    note_adj = None
    if method_adj == "tukey" and key not in ("pairwise", "revpairwise"):
        note_adj = ('Note: adjust = "tukey" was changed to "sidak"\n'
                    'because "tukey" is only appropriate for one set of pairwise comparisons')
        method_adj = "sidak"
    ns = len(names)
    group_of = [tuple(c[ns:]) for c in combos]
    groups = list(dict.fromkeys(group_of))
    labels_all = _row_labels(grid, names, combos)
    frames = []
    fam_size, rank = 0, 0
    for g in groups:
        rows = [i for i, x in enumerate(group_of) if x == g]
        C, clab = contrast_coefs(contrasts, [labels_all[i] for i in rows], sep=" / " if ratio else " - ")
        Lc = C @ L[rows]
        est = Lc @ np.asarray(m.beta) + C @ off[rows]
        VC = Lc @ V @ Lc.T
        se = np.sqrt(np.diag(VC))
        df = np.array([dffun(l) for l in Lc])
        t = est / se
        with np.errstate(invalid="ignore", divide="ignore"):
            R = VC / np.outer(se, se)
        rank = int(np.linalg.matrix_rank(C))
        p = adj.adjust_family(t, df, method_adj, nmeans=len(rows), rank=rank, R=R)
        fam_size = len(rows)
        d = {"contrast": clab}
        for j, b in enumerate(bys):
            d[b] = [grid.var(b).labels[g[j]]] * len(clab)
        asym = not np.any(np.isfinite(df))
        stat = "z.ratio" if asym else "t.ratio"
        if ratio:
            d.update({"odds.ratio" if link == "logit" else "ratio": np.exp(est), "SE": np.exp(est) * se,
                      "df": df, "null": np.ones(len(est)), stat: t, "p.value": p})
        else:
            d.update({"estimate": est, "SE": se, "df": df, stat: t, "p.value": p})
        frames.append(pd.DataFrame(d))
    con = pd.concat(frames, ignore_index=True)
    notes = []
    if averaged:
        notes.append("Results are averaged over the levels of: " + ", ".join(averaged))
    if glmm and not ratio and link != "identity":
        scale = {"logit": "log odds ratio"}.get(link, link)
        notes.append(f"Results are given on the {scale} (not the response) scale.")
    if not glmm:
        notes.append(f"Degrees-of-freedom method: {method}")
    if note_adj:
        notes.append(note_adj)
    if method_adj == "tukey":
        notes.append(f"P value adjustment: tukey method for comparing a family of {fam_size} estimates")
    elif method_adj == "scheffe":
        notes.append(f"P value adjustment: scheffe method with rank {rank}")
    elif method_adj != "none":
        ntests = len(frames[0])
        notes.append(f"P value adjustment: {method_adj} method for {ntests} tests")
    if ratio:
        notes.append("Tests are performed on the " + ("log odds ratio" if link == "logit" else "log") + " scale")
    return con, notes
