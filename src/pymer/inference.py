"""Inference for fitted mixed models: likelihood-ratio tables, t and F tests with
Satterthwaite or Kenward-Roger degrees of freedom, confidence intervals, bootstrap.

What is computed, and from which published description:

- :func:`anova` of nested fits and :func:`drop1`: likelihood-ratio tests as lme4
  documents them (``?anova.merMod``, ``?drop1.merMod``): models ordered by their
  number of parameters, REML fits refitted by maximum likelihood first.
- :func:`summary_with_ddf`, :func:`anova_ddf`, :func:`contest`: lmerTest's t and F
  tests (Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13)). Satterthwaite's
  degrees of freedom come from the gradient of Var(L beta) with respect to the
  variance parameters (theta, sigma) and their asymptotic covariance, twice the
  inverse Hessian of the REML criterion (or deviance) in those parameters, both
  by Richardson-extrapolated finite differences. Multi-df F tests split L C L' by
  its eigenvectors into independent t tests and combine their df as Fai &
  Cornelius (1996). Type I, II and III hypothesis matrices follow SAS's
  definitions (Goodnight 1980): type I from the Doolittle decomposition of X'X,
  type II by term containment, type III as the coefficients of each term under
  sum-to-zero coding of the factors, written in the model's own coding.
- Kenward-Roger (Kenward & Roger 1997; Halekoh & Hojsgaard 2014, JSS 59(9)): the
  covariance V = sum_r s_r G_r with one G_r per variance and covariance of the
  random effects and one for the residual; the bias-adjusted covariance of beta
  and the scaled F statistic with its approximate denominator df.
- :func:`confint`: Wald intervals, profile intervals (see :mod:`pymer.profile`)
  and parametric-bootstrap percentile intervals from :func:`bootstrap`, lme4's
  ``bootMer``.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .report.rformat import format_anova_table, format_pvalues, format_real

__all__ = [
    "anova",
    "drop1",
    "contest",
    "confint",
    "bootstrap",
    "summary_with_ddf",
    "anova_ddf",
    "AnovaTable",
    "BootstrapResult",
    "RefitWarning",
]

_EPS = np.finfo(float).eps

#: Kenward-Roger forms n x n dense matrices; above this many observations it refuses.
KR_MAX_NOBS = 4000


class RefitWarning(UserWarning):
    """lme4's message: REML fits were refitted by maximum likelihood to compare likelihoods."""


class AnovaTable:
    """An anova-like table: ``.table`` (DataFrame) printed as R prints it.

    Attributes
    ----------
    table : pandas.DataFrame
    heading : list of str
        Lines printed above the table.
    models : list
        For likelihood-ratio tables, the fitted models compared (after any ML refit),
        in table order.
    """

    def __init__(self, table: pd.DataFrame, heading=(), models=None):
        self.table = table
        self.heading = list(heading)
        self.models = models

    def __str__(self):
        return "\n".join(self.heading + format_anova_table(self.table))

    def __repr__(self):
        return self.__str__()

    def _repr_html_(self):
        import html
        return f"<pre>{html.escape(str(self))}</pre>"

    def __getitem__(self, key):
        return self.table[key]

    def __len__(self):
        return len(self.table)


# =============================================================================
# Likelihood-ratio tests: anova(m1, m2, ...) and drop1
# =============================================================================


def _is_reml(m) -> bool:
    return bool(getattr(m, "REML", False))


def _refit_ml(m):
    """The same model fitted by maximum likelihood (lme4's refitML)."""
    with warnings.catch_warnings():
        # the REML fit already reported its own convergence problems
        warnings.simplefilter("ignore")
        return m.update(REML=False)


def anova(*models, refit=True, names=None):
    """Likelihood-ratio tests of nested mixed models, as lme4's ``anova(m1, m2, ...)``.

    Parameters
    ----------
    *models : fitted models
        Two or more fits of the same data (anything with ``loglik``, ``aic``,
        ``bic``, ``df`` and ``nobs``: LMM and GLMM results).
    refit : bool, default True
        Refit REML fits by maximum likelihood before comparing them (with lme4's
        message, issued as a :class:`RefitWarning`). REML likelihoods of models
        with different fixed effects are not comparable.
    names : list of str, optional
        Row names; default ``"m1"``, ``"m2"``, ... in argument order.

    Returns
    -------
    AnovaTable
        ``.table`` has the columns npar, AIC, BIC, logLik, deviance, Chisq, Df,
        Pr(>Chisq), one row per model ordered by npar; Chisq = 2 (difference in
        logLik to the previous row), tested on the difference in npar.
    """
    if len(models) == 1 and isinstance(models[0], (list, tuple)):
        models = tuple(models[0])
    if len(models) < 2:
        raise ValueError("anova() compares two or more fitted models; for F tests of the fixed "
                         "effects of one linear mixed model use m.anova(type=..., ddf=...)")
    if names is None:
        names = [f"m{i + 1}" for i in range(len(models))]
    names = [str(x) for x in names]
    if len(names) != len(models):
        raise ValueError(f"{len(names)} names for {len(models)} models")
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique: {names}")
    nobs = [int(m.nobs) for m in models]
    if len(set(nobs)) > 1:
        raise ValueError("models were not all fitted to the same size of dataset "
                         f"(numbers of observations: {dict(zip(names, nobs))})")
    models = list(models)
    if refit and any(_is_reml(m) for m in models):
        warnings.warn("refitting model(s) with ML (instead of REML)", RefitWarning, stacklevel=2)
        models = [_refit_ml(m) if _is_reml(m) else m for m in models]
    npar = np.array([float(m.df) for m in models])
    order = np.argsort(npar, kind="stable")
    models = [models[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order]
    ll = np.array([float(m.loglik) for m in models])
    chisq = np.r_[np.nan, 2 * np.maximum(0.0, np.diff(ll))]
    dfc = np.r_[np.nan, np.diff(npar)]
    with np.errstate(invalid="ignore"):
        p = np.where(dfc > 0, stats.chi2.sf(chisq, np.where(dfc > 0, dfc, 1)), np.nan)
    table = pd.DataFrame({
        "npar": npar, "AIC": [float(m.aic) for m in models], "BIC": [float(m.bic) for m in models],
        "logLik": ll, "deviance": -2 * ll, "Chisq": chisq, "Df": dfc, "Pr(>Chisq)": p,
    }, index=pd.Index(names))
    heading = []
    data_names = {getattr(getattr(m, "model", None), "data_name", None) for m in models}
    if len(data_names) == 1 and None not in data_names:
        heading.append(f"Data: {data_names.pop()}")
    heading.append("Models:")
    heading += [f"{nm}: {_one_line_formula(getattr(m, 'formula', ''))}" for nm, m in zip(names, models)]
    return AnovaTable(table, heading, models)


def _one_line_formula(formula) -> str:
    """The formula on one line with R's spacing, as anova() prints its models."""
    from .formula import _deparse, _parse

    try:
        return _deparse(_parse(str(formula)))
    except Exception:
        return str(formula)


def _term_structure(mf):
    """Per fixed term: (set of factor variables, set of numeric variables), by variable key."""
    spec = getattr(mf, "_spec", None)
    if spec is not None:
        d = spec.fixed
        return [(frozenset(d.vars[v].key for v in term if d.vars[v].kind == "fac"),
                 frozenset(d.vars[v].key for v in term if d.vars[v].kind != "fac"))
                for term in d.terms]
    # without the design, treat every variable as a factor (containment by variables)
    return [(frozenset(lbl.split(":")), frozenset()) for lbl in mf.term_labels]


def _droppable_terms(mf):
    """R's drop.scope: the terms not contained in any other term (marginality)."""
    struct = _term_structure(mf)
    vars_ = [a | b for a, b in struct]
    out = []
    for i, lbl in enumerate(mf.term_labels):
        if not any(j != i and vars_[i] < vars_[j] for j in range(len(vars_))):
            out.append(lbl)
    return out


def drop1(m, test="Chisq", k=2.0):
    """Single-term deletions of the fixed effects, as lme4's ``drop1(m, test = "Chisq")``.

    Only terms not contained in a higher-order term are dropped (R's marginality
    rule); each reduced model is refitted by maximum likelihood (a REML fit is
    first refitted by ML, with lme4's message as a :class:`RefitWarning`).

    Parameters
    ----------
    m : fitted model
    test : {"Chisq", "none"}
        Add the likelihood-ratio statistic and its chi-square p-value.
    k : float
        Penalty per parameter in the AIC column (2: AIC).

    Returns
    -------
    AnovaTable
        Rows ``<none>`` and one per droppable term; columns npar (parameters
        removed), AIC, and with ``test="Chisq"`` LRT and Pr(Chi).
    """
    test = str(test)
    if test.lower() not in ("chisq", "lrt", "none"):
        raise ValueError(f"test={test!r}: use 'Chisq' or 'none'")
    from .formula import drop_fixed_term

    base = m
    if _is_reml(m):
        warnings.warn("refitting model(s) with ML (instead of REML)", RefitWarning, stacklevel=2)
        base = _refit_ml(m)
    if not hasattr(base, "update"):
        raise TypeError(f"drop1() refits the model without each term: it needs the fitted model's "
                        f"update(formula=...) method, which {type(base).__name__} lacks")
    mf = base.model.mf
    labels = _droppable_terms(mf)
    rows = [("<none>", np.nan, -2 * base.loglik + k * base.df, np.nan)]
    fits = []
    for lbl in labels:
        f = drop_fixed_term(base.formula, lbl)
        kw = {"REML": False} if hasattr(base, "REML") else {}
        sub = base.update(formula=f, **kw)
        fits.append(sub)
        npar = float(base.df - sub.df)
        lrt = 2 * (base.loglik - sub.loglik)
        rows.append((lbl, npar, -2 * sub.loglik + k * sub.df, lrt))
    table = pd.DataFrame(rows, columns=["term", "npar", "AIC", "LRT"]).set_index("term")
    table.index.name = None
    if test.lower() == "none":
        table = table[["npar", "AIC"]]
    else:
        with np.errstate(invalid="ignore"):
            npar = table["npar"].to_numpy()
            table["Pr(Chi)"] = np.where(npar > 0, stats.chi2.sf(table["LRT"].to_numpy(),
                                                                 np.where(npar > 0, npar, 1)), np.nan)
    from .formula import deparse_lines
    heading = ["Single term deletions", "", "Model:"] + deparse_lines(base.formula)
    return AnovaTable(table, heading, [base] + fits)


# =============================================================================
# Finite differences with Richardson extrapolation
# =============================================================================


def _fd_steps(x, d):
    """Base steps: d |x|, or 1e-4 where |x| is tiny (numerical-derivative convention)."""
    x = np.asarray(x, dtype=np.float64)
    zero_tol = math.sqrt(_EPS / 7e-7)
    return np.where(np.abs(x) < zero_tol, 1e-4, d * np.abs(x))


def richardson_jacobian(f, x, d=1e-4, r=4, v=2.0):
    """Jacobian of an array-valued f at x: central differences at steps h, h/v, ...,
    combined by Richardson extrapolation. Returns shape f(x).shape + (len(x),)."""
    x = np.asarray(x, dtype=np.float64)
    h0 = _fd_steps(x, d)
    f0 = np.asarray(f(x), dtype=np.float64)
    out = np.empty(f0.shape + (x.size,))
    for i in range(x.size):
        A = []
        for kk in range(r):
            h = h0[i] / v ** kk
            e = np.zeros_like(x)
            e[i] = h
            A.append((np.asarray(f(x + e), dtype=np.float64) - np.asarray(f(x - e), dtype=np.float64)) / (2 * h))
        for m in range(1, r):
            A = [(v ** (2 * m) * A[kk + 1] - A[kk]) / (v ** (2 * m) - 1) for kk in range(len(A) - 1)]
        out[..., i] = A[0]
    return out


def richardson_hessian(f, x, d=0.1, r=4, v=2.0):
    """Hessian of a scalar f at x by central second differences and Richardson
    extrapolation (relative base step d, as numerical-derivative packages use)."""
    x = np.asarray(x, dtype=np.float64)
    m = x.size
    h0 = _fd_steps(x, d)
    f0 = float(f(x))
    H = np.empty((m, m))
    for i in range(m):
        for j in range(i + 1):
            A = []
            for kk in range(r):
                hi, hj = h0[i] / v ** kk, h0[j] / v ** kk
                ei = np.zeros(m)
                ei[i] = hi
                if i == j:
                    A.append((f(x + ei) - 2 * f0 + f(x - ei)) / hi ** 2)
                else:
                    ej = np.zeros(m)
                    ej[j] = hj
                    A.append((f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej))
                             / (4 * hi * hj))
            for mm in range(1, r):
                A = [(v ** (2 * mm) * A[kk + 1] - A[kk]) / (v ** (2 * mm) - 1) for kk in range(len(A) - 1)]
            H[i, j] = H[j, i] = A[0]
    return H


# =============================================================================
# Variance parameters of an LMM: (theta, sigma)
# =============================================================================


def _require_lmm(res, what):
    if not (res.is_linear and hasattr(res, "pwrss") and hasattr(res.model, "core")):
        raise TypeError(f"{what} is available for linear mixed models (lmer fits) only")


def deviance_varpar(model, varpar, REML):
    """REML criterion (REML=True) or deviance of an LMM at (theta, sigma), beta profiled.

    With r2(theta) the penalized residual sum of squares and d = n - p (REML) or n:
    log|L|^2 [+ log|R_X|^2] + d log(2 pi sigma^2) + r2 / sigma^2 (+ the prior-weight
    constant), which equals the profiled criterion when sigma^2 = r2 / d.
    """
    theta = np.asarray(varpar[:-1], dtype=np.float64)
    sigma = float(varpar[-1])
    obj = model.objective(theta, REML=REML)
    r2 = float(model.core.pwrss)
    dof = model.n - model.p if REML else model.n
    if not (np.isfinite(obj) and r2 > 0 and sigma > 0):
        return np.inf
    return (obj - dof * (1 + math.log(2 * math.pi * r2 / dof))
            + dof * math.log(2 * math.pi * sigma ** 2) + r2 / sigma ** 2)


def vcov_varpar(model, varpar):
    """Covariance of beta-hat at (theta, sigma): sigma^2 (R_X' R_X)^-1."""
    model.objective(np.asarray(varpar[:-1], dtype=np.float64))
    RX = model.core.RX
    Rinv = np.linalg.inv(RX) if RX.size else RX
    return float(varpar[-1]) ** 2 * (Rinv @ Rinv.T)


def _cache(res) -> dict:
    return res.__dict__.setdefault("_inference_cache", {})


def _restore_core(res):
    """Leave the shared compiled core at the fitted theta (other methods expect it)."""
    res.model.objective(res.theta)


@dataclass
class _Satterthwaite:
    """What Satterthwaite's df need: C = Cov(beta-hat), J = dC/d(theta, sigma),
    A = asymptotic covariance of (theta, sigma)-hat = 2 H^-1."""

    C: np.ndarray
    J: np.ndarray
    A: np.ndarray
    messages: list = field(default_factory=list)

    def df(self, l):
        l = np.asarray(l, dtype=np.float64)
        var = float(l @ self.C @ l)
        g = np.einsum("i,ijk,j->k", l, self.J, l)
        den = float(g @ self.A @ g)
        if not den > 0:
            return np.inf
        return 2 * var ** 2 / den


def _satterthwaite(res) -> _Satterthwaite:
    c = _cache(res)
    if "satterthwaite" not in c:
        _require_lmm(res, "Satterthwaite's method")
        model = res.model
        vp = np.r_[res.theta, res.sigma]
        try:
            H = richardson_hessian(lambda x: deviance_varpar(model, x, res.REML), vp)
            J = richardson_jacobian(lambda x: vcov_varpar(model, x), vp)
        finally:
            _restore_core(res)
        msgs = []
        ev, U = np.linalg.eigh(H)
        tol = 1e-6 * max(1.0, np.max(np.abs(ev)))
        if np.all(ev > tol):
            A = 2 * np.linalg.inv(H)
        else:
            # boundary or unidentified variance parameters: invert the positive part only
            nbad = int(np.sum(ev <= tol))
            msgs.append(f"Model may not have converged with {nbad} eigenvalue(s) of the Hessian of "
                        "the variance parameters close to zero or negative")
            keep = ev > tol
            A = 2 * (U[:, keep] / ev[keep]) @ U[:, keep].T
        c["satterthwaite"] = _Satterthwaite(res._vcov_matrix(), J, A, msgs)
    return c["satterthwaite"]


# =============================================================================
# Kenward-Roger
# =============================================================================


@dataclass
class _KenwardRoger:
    Phi: np.ndarray           # (X' V^-1 X)^-1
    PhiA: np.ndarray          # bias-adjusted covariance of beta-hat
    P: list                   # P_r = -X' V^-1 G_r V^-1 X
    W: np.ndarray             # asymptotic covariance of the variance components

    def ddf_scale(self, L):
        """Kenward-Roger's denominator df m and F scaling lambda for the hypothesis L beta = 0."""
        L = np.atleast_2d(np.asarray(L, dtype=np.float64))
        q = L.shape[0]
        Phi, W, P = self.Phi, self.W, self.P
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        TPP = [Theta @ Phi @ Pi @ Phi for Pi in P]
        tr = np.array([np.trace(x) for x in TPP])
        A1 = float(tr @ W @ tr)
        A2 = float(sum(W[i, j] * np.sum(TPP[i] * TPP[j].T)
                       for i in range(len(P)) for j in range(len(P))))
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        Estar = 1 / (1 - A2 / q)
        Vstar = (2 / q) * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
        rho = Vstar / (2 * Estar ** 2)
        m = 4 + (q + 2) / (q * rho - 1)
        lam = m / (Estar * (m - 2))
        return m, lam


def _variance_components(res):
    """The covariance of y as sum_r s_r G_r: one G_r (sparse n x n) per variance and
    covariance of each random-effects term, then the residual (diag 1/w)."""
    import scipy.sparse as sp

    model = res.model
    n = model.n
    G, s = [], []
    s2 = res.sigma ** 2
    rows = np.arange(n)
    for t, T in zip(model.re.terms, model.re.factors(res.theta)):
        S = s2 * T @ T.T
        Zc = [sp.csr_matrix((t.X[:, i], (rows, t.codes)), shape=(n, t.nlev)) for i in range(t.k)]
        for c in range(t.k):
            for r in range(c, t.k):
                if r == c:
                    G.append((Zc[r] @ Zc[r].T).tocsr())
                else:
                    G.append((Zc[r] @ Zc[c].T + Zc[c] @ Zc[r].T).tocsr())
                s.append(S[r, c])
    w = model.weights if model.weights is not None else np.ones(n)
    G.append(sp.diags(1.0 / w).tocsr())
    s.append(s2)
    return G, np.array(s)


def _kenward_roger(res) -> _KenwardRoger:
    c = _cache(res)
    if "kenward_roger" not in c:
        _require_lmm(res, "the Kenward-Roger method")
        model = res.model
        n = model.n
        if n > KR_MAX_NOBS:
            raise ValueError(
                f"the Kenward-Roger method forms dense {n} x {n} matrices; this model has "
                f"{n} observations (limit pymer.inference.KR_MAX_NOBS = {KR_MAX_NOBS}). "
                "Use ddf='Satterthwaite', or raise the limit if memory allows.")
        if not res.REML:
            warnings.warn("the Kenward-Roger method is defined for REML estimates; this model "
                          "was fitted by maximum likelihood", UserWarning, stacklevel=4)
        X = model.X
        G, s = _variance_components(res)
        V = np.zeros((n, n))
        for sr, Gr in zip(s, G):
            V += sr * Gr.toarray()
        cf = np.linalg.cholesky(V)
        Vinv = np.linalg.inv(cf)
        Vinv = Vinv.T @ Vinv
        VinvX = Vinv @ X
        Phi = np.linalg.inv(X.T @ VinvX)
        GVX = [Gr @ VinvX for Gr in G]                      # G_r V^-1 X  (n x p)
        P = [-(VinvX.T @ g) for g in GVX]
        VGVX = [Vinv @ g for g in GVX]
        M = len(G)
        # expected information of the variance components under REML:
        # I_rs = tr(Pm G_r Pm G_s) / 2, Pm = V^-1 - V^-1 X Phi X' V^-1
        Pm = Vinv - VinvX @ Phi @ VinvX.T
        PG = [np.asarray((Gr.T @ Pm.T).T) for Gr in G]      # Pm G_r, dense
        info = np.empty((M, M))
        for i in range(M):
            for j in range(i + 1):
                info[i, j] = info[j, i] = 0.5 * np.sum(PG[i] * PG[j].T)
        W = np.linalg.inv(info)
        U = np.zeros_like(Phi)
        for i in range(M):
            for j in range(M):
                Qij = GVX[i].T @ VGVX[j]
                U += W[i, j] * (Qij - P[i] @ Phi @ P[j])
        PhiA = Phi + 2 * Phi @ U @ Phi
        c["kenward_roger"] = _KenwardRoger(Phi, PhiA, P, W)
    return c["kenward_roger"]


# =============================================================================
# Contrast tests
# =============================================================================


def _ddf_method(ddf):
    key = str(ddf).lower().replace("_", "-").replace(" ", "-")
    if key in ("satterthwaite", "satterth", "s"):
        return "Satterthwaite"
    if key in ("kenward-roger", "kenwardroger", "kr", "k-r", "kenward"):
        return "Kenward-Roger"
    if key == "lme4":
        return "lme4"
    raise ValueError(f"ddf={ddf!r}: use 'Satterthwaite', 'Kenward-Roger' or 'lme4'")


def _contest1d(res, l, method):
    l = np.asarray(l, dtype=np.float64)
    est = float(l @ res.beta)
    if method == "Satterthwaite":
        s = _satterthwaite(res)
        var = float(l @ s.C @ l)
        df = s.df(l)
    else:
        kr = _kenward_roger(res)
        var = float(l @ kr.PhiA @ l)
        df = kr.ddf_scale(l[None, :])[0]
    se = math.sqrt(var)
    t = est / se
    p = 2 * stats.t.sf(abs(t), df) if np.isfinite(df) else 2 * stats.norm.sf(abs(t))
    return {"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p}


def _full_row_rank(L, rtol=1e-9):
    """Independent rows of L (a pivoted QR keeps as many of the given rows as possible)."""
    import scipy.linalg as sla

    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    if L.shape[0] == 0 or not np.any(L):
        return L[:0]
    _, R, piv = sla.qr(L.T, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    r = int(np.sum(d > rtol * d.max()))
    return L[np.sort(piv[:r])]


def _contestMD(res, L, method):
    """F test of L beta = 0: lmerTest's columns Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)."""
    L = _full_row_rank(L)
    q = L.shape[0]
    beta = res.beta
    s2 = res.sigma ** 2
    if q == 0:
        return {"Sum Sq": np.nan, "Mean Sq": np.nan, "NumDF": 0, "DenDF": np.nan,
                "F value": np.nan, "Pr(>F)": np.nan}
    if method == "Satterthwaite":
        s = _satterthwaite(res)
        VL = L @ s.C @ L.T
        d, P = np.linalg.eigh(VL)
        d, P = d[::-1], P[:, ::-1]
        pos = d > math.sqrt(_EPS) * max(d[0], 0)
        d, P = d[pos], P[:, pos]
        q = d.size
        PL = P.T @ L
        t2 = (PL @ beta) ** 2 / d
        F = float(t2.sum() / q)
        nu = np.array([s.df(row) for row in PL])
        if q == 1:
            ddf = float(nu[0])
        else:
            big = nu > 2
            E = float(np.sum(nu[big] / (nu[big] - 2)))
            ddf = 2 * E / (E - q) if E > q else np.nan
        Fscaled = F
    elif method == "Kenward-Roger":
        kr = _kenward_roger(res)
        Lb = L @ beta
        F = float(Lb @ np.linalg.solve(L @ kr.PhiA @ L.T, Lb) / q)
        ddf, lam = kr.ddf_scale(L)
        Fscaled = lam * F
    else:   # lme4: Wald F without denominator df
        Lb = L @ beta
        F = float(Lb @ np.linalg.solve(L @ res._vcov_matrix() @ L.T, Lb) / q)
        return {"npar": q, "Sum Sq": F * q * s2, "Mean Sq": F * s2, "F value": F}
    p = stats.f.sf(Fscaled, q, ddf) if np.isfinite(ddf) else np.nan
    return {"Sum Sq": F * q * s2, "Mean Sq": F * s2, "NumDF": q, "DenDF": ddf,
            "F value": Fscaled, "Pr(>F)": p}


def contest(m, L, joint=True, ddf="Satterthwaite"):
    """Tests of linear functions L beta of the fixed effects (lmerTest's ``contest``).

    Parameters
    ----------
    m : LMMResult
    L : array_like (p,) or (k, p)
        Contrast vector or matrix over ``m.fixef`` (in its order).
    joint : bool, default True
        One F test of all rows (NumDF = rank of L); False: a t test per row.
    ddf : {"Satterthwaite", "Kenward-Roger"}

    Returns
    -------
    pandas.DataFrame
        Joint: one row with Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F).
        Otherwise one row per contrast with Estimate, Std. Error, df, t value, Pr(>|t|).
    """
    method = _ddf_method(ddf)
    if method == "lme4":
        raise ValueError("contest() needs ddf='Satterthwaite' or 'Kenward-Roger'")
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    p = len(m.beta)
    if L.shape[1] != p:
        raise ValueError(f"L has {L.shape[1]} columns; the model has {p} fixed effects {m.fixef_names}")
    if joint:
        return pd.DataFrame([_contestMD(m, L, method)])
    return pd.DataFrame([_contest1d(m, row, method) for row in L])


# =============================================================================
# lmerTest summary and anova tables
# =============================================================================


def summary_with_ddf(res, ddf="Satterthwaite", correlation=True):
    """lmerTest's summary: lme4's summary with df and p-values for the fixed effects.

    Returns a :class:`pymer.results.Summary` whose ``.coefficients`` has the columns
    Estimate, Std. Error, df, t value, Pr(>|t|).
    """
    from .report.summary import Section, Summary

    method = _ddf_method(ddf)
    if method == "lme4":
        return res.summary(correlation=correlation)
    _require_lmm(res, "summary(ddf=...)")
    rows = [_contest1d(res, l, method) for l in np.eye(len(res.beta))]
    coefs = pd.DataFrame(rows, index=res.fixef_names,
                         columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])
    meth = "Satterthwaite's" if method == "Satterthwaite" else "Kenward-Roger's"
    crit = "REML" if res.REML else "maximum likelihood "
    title = _title_lines(f"Linear mixed model fit by {crit}. t-tests use {meth} method",
                         "lmerModLmerTest")
    sections = res._summary_sections(title + res._header()[1:], res._stats_section(1), coefs,
                                     _ddf_coef_lines(coefs), correlation)
    msgs = _satterthwaite(res).messages if method == "Satterthwaite" else []
    if msgs:
        sections.append(Section("messages", ("",) + tuple(msgs)))
    return Summary(sections, coefs, title="summary")


def _title_lines(title, cls, width=80):
    """A summary's title as R prints it: words wrapped to lines shorter than `width`
    (continuation lines indented by 2), then " [cls]", or " [" and cls + "]" on the
    next line when it does not fit (as lmerTest's titles print)."""
    lines, cur = [], ""
    for w in title.split(" "):
        if cur and len(cur) + 1 + len(w) >= width:
            lines.append(cur)
            cur = "  " + w
        else:
            cur = f"{cur} {w}" if cur else w
    if len(cur) + len(cls) + 3 >= width:
        return lines + [cur + " [", cls + "]"]
    return lines + [f"{cur} [{cls}]"]


def _ddf_coef_lines(coefs, digits=4):
    """lmerTest's fixed-effects table as printCoefmat prints it: estimates, standard
    errors and df with one common layout, t values rounded, p-values, stars."""
    from .report.rformat import coef_lines

    return coef_lines(coefs, digits)


def _kept_assign(model):
    """R's assign for the columns the model kept (aliased columns dropped)."""
    mf = model.mf
    idx = [mf.fixef_names.index(nm) for nm in model.fixef_names]
    return np.asarray(mf.assign)[idx]


def _contains(a, b):
    """Does term b contain term a (SAS): same numeric variables, a's factors a proper subset of b's."""
    return a[1] == b[1] and a[0] < b[0]


def _hypotheses_type1(X, assign, nterms):
    """Type I: rows of the unit upper-triangular Doolittle factor of X'X, by term."""
    R = np.linalg.cholesky(X.T @ X).T
    U = R / np.diag(R)[:, None]
    return {t: U[assign == t] for t in range(1, nterms + 1)}


def _hypotheses_type2(X, assign, struct):
    """Type II: each term adjusted for every term that does not contain it."""
    out = {}
    nterms = len(struct)
    for t in range(1, nterms + 1):
        own = assign == t
        if not own.any():
            continue
        cont = [u for u in range(1, nterms + 1) if u != t and _contains(struct[t - 1], struct[u - 1])]
        rest = ~own & ~np.isin(assign, cont)
        X0, X1 = X[:, rest], X[:, own]
        if X0.shape[1]:
            Q, _ = np.linalg.qr(X0)
            MX = X - Q @ (Q.T @ X)
        else:
            MX = X
        A = X1.T @ MX[:, own]
        L = np.zeros((int(own.sum()), X.shape[1]))
        L[:, ~rest] = np.linalg.solve(A, X1.T @ MX[:, ~rest])
        out[t] = L
    return out


def _sum_coded_X(res):
    """The fixed-effects model matrix with sum-to-zero contrasts for the unordered
    factors coded by contrasts (same terms, same column space), and its assign."""
    import copy
    import types

    from .formula import _Evaluator, _as_frame, _encode_new

    model = res.model
    mf = model.mf
    spec = getattr(mf, "_spec", None)
    data = model.call.data if getattr(model, "call", None) is not None else None
    if spec is None or data is None:
        return None
    design = copy.copy(spec.fixed)
    base_contrast = spec.fixed.contrast

    def contrast(self, vi, coding):
        v = self.vars[vi]
        if coding == "contr" and not v.ordered:
            L = len(v.levels)
            return np.vstack([np.eye(L - 1), -np.ones((1, L - 1))]), [str(i) for i in range(1, L)]
        return base_contrast(vi, coding)

    design.contrast = types.MethodType(contrast, design)
    frame = _as_frame(data).iloc[np.asarray(mf.rows)].reset_index(drop=True)
    ev = _Evaluator(frame, spec.state, fitting=False)
    vals = _encode_new(spec.fixed, [ev.eval(vs.node) for vs in spec.fixed.vars])
    Xs, _, assign = design.build(vals, len(frame))
    return Xs, np.asarray(assign)


def _hypotheses_type3(res, X, assign, nterms):
    """Type III: the hypotheses 'the term's coefficients are zero' under sum-to-zero
    coding, mapped to the model's coding (beta_sum = T beta with X_sum T = X), each
    written with the identity on the term's own columns."""
    got = _sum_coded_X(res)
    if got is None:
        raise ValueError("type III tests need the model's data (fit with pymer.lmer)")
    Xs, assign_s = got
    if res.model.dropped_fixef:
        raise ValueError("type III tests are not available for rank-deficient fixed effects "
                         f"(dropped: {res.model.dropped_fixef}); use type=1 or 2")
    T, *_ = np.linalg.lstsq(Xs, X, rcond=None)
    out = {}
    for t in range(1, nterms + 1):
        L = T[assign_s == t]
        own = assign == t
        if L.shape[0] == 0 or not own.any():
            continue
        B = L[:, own]
        if B.shape[0] == B.shape[1] and np.linalg.matrix_rank(B) == B.shape[0]:
            L = np.linalg.solve(B, L)
        out[t] = L
    return out


def _anova_type(type):
    key = str(type).upper().strip()
    table = {"1": 1, "I": 1, "2": 2, "II": 2, "3": 3, "III": 3}
    if key not in table:
        raise ValueError(f"type={type!r}: use 1, 2 or 3 (or 'I', 'II', 'III')")
    return table[key]


def anova_ddf(res, type=3, ddf="Satterthwaite"):
    """lmerTest's F-test table for the fixed-effect terms of one linear mixed model.

    Parameters
    ----------
    res : LMMResult
    type : {3, 2, 1} or {"III", "II", "I"}
        SAS's hypothesis types: type I sequential (Doolittle decomposition of
        X'X), type II (each term adjusted for all terms not containing it), type
        III (each term's effect under sum-to-zero coding of the factors,
        independent of the contrasts used to fit).
    ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}
        Kenward-Roger reports the scaled F statistic (Sum Sq and Mean Sq use the
        unscaled F, with the adjusted covariance). "lme4" gives lme4's sequential
        table without denominator df or p-values.

    Returns
    -------
    AnovaTable
        Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F), one row per term.
    """
    method = _ddf_method(ddf)
    _require_lmm(res, "anova(type=..., ddf=...)")
    typ = 1 if method == "lme4" else _anova_type(type)
    model = res.model
    mf = model.mf
    X = model.X
    assign = _kept_assign(model)
    labels = list(mf.term_labels)
    nterms = len(labels)
    if typ == 1:
        Ls = _hypotheses_type1(X, assign, nterms)
    elif typ == 2:
        Ls = _hypotheses_type2(X, assign, _term_structure(mf))
    else:
        Ls = _hypotheses_type3(res, X, assign, nterms)
    rows, index = [], []
    for t in range(1, nterms + 1):
        if t not in Ls or Ls[t].shape[0] == 0:
            continue
        rows.append(_contestMD(res, Ls[t], method))
        index.append(labels[t - 1])
    if method == "lme4":
        cols = ["npar", "Sum Sq", "Mean Sq", "F value"]
        heading = ["Analysis of Variance Table"]
    else:
        cols = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
        roman = {1: "I", 2: "II", 3: "III"}[typ]
        meth = "Satterthwaite's" if method == "Satterthwaite" else "Kenward-Roger's"
        heading = [f"Type {roman} Analysis of Variance Table with {meth} method"]
    table = pd.DataFrame(rows, index=pd.Index(index), columns=cols)
    return AnovaTable(table, heading)


# =============================================================================
# Confidence intervals
# =============================================================================


def param_names(res, old_names=True):
    """lme4's names of the variance parameters: .sig01, ..., .sigma (old_names) or
    sd_(Intercept)|Subject, cor_Days.(Intercept)|Subject, ..., sigma."""
    names = []
    i = 0
    for t in res.re.terms:
        for c in range(t.k):
            for r in range(c, t.k):
                i += 1
                if old_names:
                    names.append(f".sig{i:02d}")
                elif r == c:
                    names.append(f"sd_{t.colnames[r]}|{t.group}")
                else:
                    names.append(f"cor_{t.colnames[r]}.{t.colnames[c]}|{t.group}")
    if res.is_linear:
        names.append(".sigma" if old_names else "sigma")
    return names


def sdcor_params(res):
    """Standard deviations and correlations of the random effects (lme4's theta
    order, per term), then sigma for models with a scale: what lme4's profile and
    bootstrap intervals are about."""
    scale = res.is_linear
    out = res.re.sd_cor(res.theta, res.sigma if scale else 1.0)
    return np.r_[out, res.sigma] if scale else out


def _ci_labels(level):
    a = (1 - level) / 2
    return [f"{format_real([100 * p], 3)[0].strip()} %" for p in (a, 1 - a)]


def _select_parms(all_names, nvar, parm):
    if parm is None:
        return list(range(len(all_names)))
    if isinstance(parm, str):
        if parm == "theta_":
            return list(range(nvar))
        if parm == "beta_":
            return list(range(nvar, len(all_names)))
        parm = [parm]
    out = []
    for p in parm:
        if isinstance(p, (int, np.integer)):
            out.append(int(p))
        elif p in all_names:
            out.append(all_names.index(p))
        else:
            raise KeyError(f"unknown parameter {p!r}; parameters: {all_names}")
    return out


def confint(res, parm=None, level=0.95, method="profile", *, nsim=500, seed=None,
            boot_type="perc", n_jobs=1, progress=None, old_names=True):
    """Confidence intervals for the variance parameters and fixed effects, as lme4's confint().

    Parameters
    ----------
    res : fitted model
    parm : None, list of names / indices, "theta_" or "beta_"
        Which rows (default all).
    level : float
    method : {"profile", "wald", "boot"}
        "profile": likelihood-profile intervals (:func:`pymer.profile.profile`;
        lme4 profiles the deviance, also for REML fits; for a GLMM the Laplace or
        adaptive Gauss-Hermite deviance, re-optimized over all other parameters,
        not available for nAGQ = 0 fits or families with a dispersion parameter).
        "wald": beta-hat +/- z SE
        for the fixed effects, NaN for the variance parameters. "boot": percentile
        intervals of a parametric bootstrap (:func:`bootstrap`, ``nsim`` replicates
        from ``seed``).
    old_names : bool, default True
        Row names ``.sig01``/``.sigma`` (lme4's default) or ``sd_(Intercept)|g``,
        ``cor_x.(Intercept)|g``, ``sigma``.

    Returns
    -------
    pandas.DataFrame
        Columns ``"2.5 %"`` and ``"97.5 %"`` (for level 0.95).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    key = str(method).lower()
    vnames = param_names(res, old_names)
    names = vnames + list(res.fixef_names)
    sel = _select_parms(names, len(vnames), parm)
    cols = _ci_labels(level)
    if key == "wald":
        z = stats.norm.ppf(1 - (1 - level) / 2)
        se = np.sqrt(np.diag(np.asarray(res.vcov)))
        lo = np.r_[np.full(len(vnames), np.nan), np.asarray(res.beta) - z * se]
        hi = np.r_[np.full(len(vnames), np.nan), np.asarray(res.beta) + z * se]
        out = np.column_stack([lo, hi])
    elif key == "profile":
        from .profile import profile

        # profile a little beyond the interval's ends, then solve for them exactly
        prof = profile(res, which=sel, alphamax=(1 - level) / 4, old_names=old_names)
        ci = prof.confint(level=level)
        out = np.full((len(names), 2), np.nan)
        for i in sel:
            out[i] = ci.loc[names[i]].to_numpy()
    elif key in ("boot", "bootstrap"):
        b = bootstrap(res, _boot_params, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress)
        b.names = names
        out = b.confint(level=level, type=boot_type).to_numpy()
    else:
        raise ValueError(f"method={method!r}: use 'profile', 'wald' or 'boot'")
    return pd.DataFrame(out[sel], index=[names[i] for i in sel], columns=cols)


def _boot_params(r):
    """Variance parameters (sd/cor scale), sigma and fixed effects of a fit."""
    return np.r_[sdcor_params(r), np.asarray(r.beta, dtype=np.float64)]


# =============================================================================
# Parametric bootstrap (lme4's bootMer)
# =============================================================================


class BootstrapResult:
    """Replicates of a statistic under the parametric bootstrap.

    Attributes
    ----------
    t0 : ndarray (k,)
        The statistic of the fitted model.
    t : ndarray (nsim, k)
        One row per replicate (NaN where the refit failed).
    names : list of str
    seed : the master seed; replicate i used ``numpy.random.SeedSequence(seed).spawn(nsim)[i]``.
    n_failed : int
        Replicates whose refit or statistic raised an error.
    n_warned : int
        Replicates whose refit raised warnings (convergence, singular fit), kept.
    """

    def __init__(self, t0, t, names, seed, n_failed=0, n_warned=0, errors=()):
        self.t0 = np.asarray(t0, dtype=np.float64)
        self.t = np.asarray(t, dtype=np.float64)
        self.names = list(names)
        self.seed = seed
        self.n_failed = int(n_failed)
        self.n_warned = int(n_warned)
        self.errors = list(errors)

    @property
    def nsim(self) -> int:
        return self.t.shape[0]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.t, columns=self.names)

    def confint(self, level=0.95, type="perc") -> pd.DataFrame:
        """Bootstrap intervals: "perc" (percentile), "basic" or "norm"."""
        a = (1 - level) / 2
        t = self.t
        ok = np.all(np.isfinite(t), axis=1) if t.ndim == 2 else np.isfinite(t)
        t = t[ok]
        if type == "perc":
            lo, hi = np.quantile(t, [a, 1 - a], axis=0)
        elif type == "basic":
            qlo, qhi = np.quantile(t, [a, 1 - a], axis=0)
            lo, hi = 2 * self.t0 - qhi, 2 * self.t0 - qlo
        elif type == "norm":
            z = stats.norm.ppf(1 - a)
            bias = t.mean(axis=0) - self.t0
            sd = t.std(axis=0, ddof=1)
            lo, hi = self.t0 - bias - z * sd, self.t0 - bias + z * sd
        else:
            raise ValueError(f"type={type!r}: use 'perc', 'basic' or 'norm'")
        return pd.DataFrame(np.column_stack([lo, hi]), index=self.names, columns=_ci_labels(level))

    def summary(self) -> pd.DataFrame:
        t = self.t
        return pd.DataFrame({"original": self.t0, "bias": np.nanmean(t, axis=0) - self.t0,
                             "std. error": np.nanstd(t, axis=0, ddof=1)}, index=self.names)

    def __repr__(self):
        lines = [f"Parametric bootstrap: {self.nsim} replicates (seed {self.seed})"]
        if self.n_failed:
            lines.append(f"{self.n_failed} replicate(s) failed")
        if self.n_warned:
            lines.append(f"{self.n_warned} replicate(s) gave warnings")
        lines.append(self.summary().to_string())
        return "\n".join(lines)


_WORKER = {}


def _boot_init(payload, func, use_u):
    """Worker set-up: the fitted model (inherited by fork, or rebuilt from its ModelFrame)."""
    if payload[0] == "lmm":
        from .lmm import LinearMixedModel
        from .results import LMMResult

        _, mf, REML, theta, sigma = payload
        model = LinearMixedModel(mf, REML=REML)
        res = LMMResult(model, theta)
    else:
        res = payload[1]
    _WORKER["state"] = (res, func, use_u)


def _boot_one(seed):
    """One replicate: simulate from the fitted model with this seed, refit, apply func."""
    res, func, use_u = _WORKER["state"]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            y = np.asarray(res.simulate(1, seed=np.random.default_rng(seed), use_u=use_u)).ravel()
            r = res.refit(y)
            v = func(r)
            val = np.atleast_1d(np.asarray(list(v.values()) if isinstance(v, dict) else v,
                                           dtype=np.float64)).ravel()
            err = None
        except Exception as e:   # a failed replicate is recorded, as bootMer does
            val, err = None, f"{type(e).__name__}: {e}"
    return val, err, len(w) > 0


def _stat_names(v, size):
    if isinstance(v, pd.Series):
        return [str(x) for x in v.index]
    if isinstance(v, dict):
        return [str(x) for x in v]
    return [f"t{i + 1}" for i in range(size)]


def bootstrap(res, func, nsim=100, seed=None, *, n_jobs=1, progress=None, use_u=False,
              mp_context=None):
    """Parametric bootstrap of a statistic, as lme4's ``bootMer``.

    Each replicate simulates a response from the fitted model (``res.simulate``),
    refits the model to it (``res.refit``, started at the estimates) and applies
    ``func`` to the refit.

    Parameters
    ----------
    res : fitted model
    func : callable
        ``func(fit)`` -> number or 1-d array (a pandas Series names the columns).
        For ``n_jobs > 1`` on platforms without the "fork" start method it must be
        picklable (a module-level function).
    nsim : int
    seed : int, SeedSequence or None
        Master seed. Replicate i uses the i-th child of
        ``numpy.random.SeedSequence(seed)``, so results do not depend on n_jobs.
    n_jobs : int
        Worker processes (concurrent.futures); -1 for all CPUs.
    progress : bool or None
        A tqdm progress bar; by default only when tqdm is installed and stderr is a
        terminal (see :func:`pymer._progress.progress`).
    use_u : bool
        Condition on the estimated random effects (lme4's ``use.u = TRUE``).
    mp_context : str, optional
        Multiprocessing start method; default "fork" where available.

    Returns
    -------
    BootstrapResult
    """
    nsim = int(nsim)
    if nsim < 1:
        raise ValueError("nsim must be at least 1")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seeds = ss.spawn(nsim)
    v0 = func(res)
    t0 = np.atleast_1d(np.asarray(v0 if not isinstance(v0, dict) else list(v0.values()),
                                  dtype=np.float64)).ravel()
    names = _stat_names(v0, t0.size)
    if n_jobs is None:
        n_jobs = 1
    if n_jobs < 0:
        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(int(n_jobs), nsim))
    from ._progress import progress as _progress

    results = []
    try:
        if n_jobs == 1:
            _WORKER["state"] = (res, func, use_u)
            try:
                for s in _progress(seeds, total=nsim, desc="bootstrap", enable=progress):
                    results.append(_boot_one(s))
            finally:
                _WORKER.pop("state", None)
        else:
            results = _bootstrap_parallel(res, func, use_u, seeds, n_jobs, mp_context, progress)
    finally:
        _restore_core_if_lmm(res)
    t = np.full((nsim, t0.size), np.nan)
    n_failed = n_warned = 0
    errors = []
    for i, (val, err, warned) in enumerate(results):
        if err is not None or val is None or val.size != t0.size:
            n_failed += 1
            errors.append(err or f"replicate {i + 1}: statistic has {0 if val is None else val.size} values, "
                                 f"expected {t0.size}")
            continue
        t[i] = val
        n_warned += bool(warned)
    if n_failed == nsim:
        raise RuntimeError(f"all {nsim} bootstrap replicates failed; first error: {errors[0]}")
    if n_failed:
        warnings.warn(f"{n_failed} of {nsim} bootstrap replicates failed; first error: {errors[0]}",
                      UserWarning, stacklevel=2)
    seed_out = seed if not isinstance(seed, np.random.SeedSequence) else seed.entropy
    return BootstrapResult(t0, t, names, seed_out, n_failed, n_warned, errors)


def _restore_core_if_lmm(res):
    if hasattr(res, "model") and hasattr(res.model, "core") and res.is_linear:
        try:
            _restore_core(res)
        except Exception:
            pass


def _bootstrap_parallel(res, func, use_u, seeds, n_jobs, mp_context, progress):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from ._progress import progress as _progress

    method = mp_context or ("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    ctx = mp.get_context(method)
    if method == "fork":
        # the child inherits the fitted model and func: nothing is pickled
        payload = ("object", res)
    elif hasattr(res, "model") and hasattr(res.model, "mf") and res.is_linear:
        payload = ("lmm", res.model.mf, res.REML, res.theta, res.sigma)
    else:
        payload = ("object", res)
    chunk = max(1, len(seeds) // (4 * n_jobs))
    out = []
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_boot_init,
                             initargs=(payload, func, use_u)) as ex:
        it = ex.map(_boot_one, seeds, chunksize=chunk)
        for r in _progress(it, total=len(seeds), desc="bootstrap", enable=progress):
            out.append(r)
    return out
