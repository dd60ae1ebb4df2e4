"""Denominator degrees of freedom for t and F tests of the fixed effects of an LMM
(lmerTest: Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13)).

- Satterthwaite: the gradient of Var(L beta) with respect to the variance parameters
  (theta, sigma) and their asymptotic covariance, twice the inverse Hessian of the REML
  criterion (or deviance) in those parameters, both by Richardson-extrapolated finite
  differences (:mod:`pymer.numdiff`). Multi-df F tests split L C L' by its eigenvectors
  into independent t tests and combine their df as Fai & Cornelius (1996).
- Kenward-Roger (Kenward & Roger 1997; Halekoh & Hojsgaard 2014, JSS 59(9)): the
  covariance V = sum_r s_r G_r with one G_r per variance and covariance of the random
  effects and one for the residual; the bias-adjusted covariance of beta and the scaled
  F statistic with its approximate denominator df.
- :func:`contest`: tests of contrasts L beta with either method.
"""
from __future__ import annotations

from typing import Any
from numpy.typing import ArrayLike
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from ..errors import warn
from ..numdiff import richardson_hessian, richardson_jacobian
from ..terms import lower_tri_pairs
from .params import _require_lmm

__all__ = ["contest", "deviance_varpar", "vcov_varpar", "KR_MAX_DIM"]


_EPS = np.finfo(float).eps


# Kenward-Roger works on dense (q + p)-square matrices (q random effects, p fixed effects)
KR_MAX_DIM = 4000


def deviance_varpar(model: Any, varpar: np.ndarray, REML: bool) -> float:
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


def vcov_varpar(model: Any, varpar: np.ndarray) -> np.ndarray:
    """Covariance of beta-hat at (theta, sigma): sigma^2 (R_X' R_X)^-1."""
    model.objective(np.asarray(varpar[:-1], dtype=np.float64))
    RX = model.core.RX
    Rinv = np.linalg.inv(RX) if RX.size else RX
    return float(varpar[-1]) ** 2 * (Rinv @ Rinv.T)


def _cache(res) -> dict:
    return res.__dict__.setdefault("_inference_cache", {})


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
        vp = np.r_[res.theta, res.sigma]
        with res.restoring_core() as model:
            H = richardson_hessian(lambda x: deviance_varpar(model, x, res.REML), vp)
            J = richardson_jacobian(lambda x: vcov_varpar(model, x), vp)
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


def _components(re, theta, sigma):
    """The covariance of y as sum_r s_r G_r: per variance and covariance of each
    random-effects term, G_r = Z_a Z_b' (+ Z_b Z_a'), given as the pairs of Z's column
    indices (a, b) of the term's a-th and b-th columns at every level; then the residual
    (G = W^-1, None)."""
    G, s = [], []
    s2 = sigma ** 2
    for t, T, off in zip(re.terms, re.factors(theta), re.col_offsets):
        S = s2 * T @ T.T
        cols = [off + np.arange(t.nlev) * t.k + a for a in range(t.k)]
        for r, c in lower_tri_pairs(t.k):
            G.append([(cols[r], cols[c])] if r == c else [(cols[r], cols[c]), (cols[c], cols[r])])
            s.append(S[r, c])
    G.append(None)
    s.append(s2)
    return G, np.array(s)


def _crossproducts(model) -> np.ndarray:
    """C = [Z X]'W[Z X] (dense, q + p) from the model's core (in memory or summed over
    the partitions of a Dask DataFrame)."""
    core = model.core
    q, p = core.q, core.p
    ZtZ = sp.csc_matrix((np.asarray(core.ztz), np.asarray(model.rowind), np.asarray(model.colptr)),
                        shape=(q, q)).toarray()
    ZtX = np.asarray(core.ZtXy)[:, :p]
    C = np.empty((q + p, q + p))
    C[:q, :q] = ZtZ
    C[:q, q:] = ZtX
    C[q:, :q] = ZtX.T
    C[q:, q:] = np.asarray(core.XytXy)[:p, :p]
    return C


def _pair_sum(mats: list) -> np.ndarray:
    """The sum of one or two matrices (a variance's G_r, or a covariance's two terms)."""
    out = mats[0]
    for x in mats[1:]:
        out = out + x
    return out


def _kenward_roger(res) -> _KenwardRoger:
    """Kenward-Roger's quantities from the (q + p)-square cross-products [Z X]'W[Z X].

    With W^(1/2) applied to y, X and Z (KR is invariant to it), V = sigma^2 (I + Z Lambda
    Lambda' Z'); by Woodbury V^-1 = (I - Z K Z') / sigma^2, K = Lambda (Lambda' Z'Z Lambda
    + I)^-1 Lambda', so V^-1 [Z X] = [Z X] T with T = I - E_Z K [Z'Z Z'X], and every
    product X'V^-1 G_r V^-1 X, X'V^-1 G_r V^-1 G_s V^-1 X and tr(Pm G_r Pm G_s) (Pm = V^-1
    - V^-1 X Phi X'V^-1 = (I - [Z X] N [Z X]') / sigma^2) is one of products of C, T and
    the q x q blocks; tr(Pm Pm) adds n.
    """
    c = _cache(res)
    if "kenward_roger" not in c:
        _require_lmm(res, "the Kenward-Roger method")
        model = res.model
        q, p = model.core.q, model.core.p
        m = q + p
        if m > KR_MAX_DIM:
            raise ValueError(
                f"the Kenward-Roger method forms dense {m} x {m} matrices (random effects plus "
                f"fixed effects); this model has {m} (limit pymer.inference.ddf.KR_MAX_DIM = "
                f"{KR_MAX_DIM}). Use ddf='Satterthwaite', or raise the limit if memory allows.")
        if not res.REML:
            warn("the Kenward-Roger method is defined for REML estimates; this model "
                 "was fitted by maximum likelihood", UserWarning)
        s2 = float(res.sigma) ** 2
        C = _crossproducts(model)
        Lam = model.re.Lambda(np.asarray(res.theta, dtype=np.float64)).toarray()
        M = Lam.T @ C[:q, :q] @ Lam + np.eye(q)
        cf = sla.cho_factor(M, lower=True)
        K = Lam @ sla.cho_solve(cf, Lam.T)
        T = np.eye(m)
        T[:q, :] -= K @ C[:q, :]
        S = C @ T                                           # [Z X]'V^-1[Z X] (sigma = 1)
        S = 0.5 * (S + S.T)
        TX = T[:, q:]                                       # V^-1 X = [Z X] TX
        Phi0 = np.linalg.inv(S[q:, q:])
        Phi = s2 * Phi0                                     # (X'V^-1 X)^-1
        U = T - TX @ (Phi0 @ S[q:, :])                      # Pm [Z X] = [Z X] U
        Qf = C @ U                                          # [Z X]'Pm[Z X]
        Q2 = U.T @ Qf                                       # [Z X]'Pm Pm[Z X]
        N = TX @ Phi0 @ TX.T
        N[:q, :q] += K
        NC = N @ C
        n = res.nobs
        trPP = n - 2 * np.trace(NC) + np.sum(NC * NC.T)
        G, _ = _components(model.re, np.asarray(res.theta, dtype=np.float64), float(res.sigma))
        # L_r = X'V^-1 G_r V^-1 [Z X] (p x m), sigma = 1
        L = [TX.T @ S if g is None else _pair_sum([S[q:, a] @ S[b, :] for a, b in g]) for g in G]
        P = [-(Lr[:, q:]) / s2 ** 2 for Lr in L]
        nG = len(G)

        def tr_pgpg(gi, gj):
            if gi is None and gj is None:
                return trPP
            if gi is None or gj is None:
                g = gi if gj is None else gj
                return sum(np.trace(Q2[np.ix_(b, a)]) for a, b in g)
            return sum(np.sum(Qf[np.ix_(d, a)] * Qf[np.ix_(b, cc)].T) for a, b in gi for cc, d in gj)

        info = np.empty((nG, nG))
        for i in range(nG):
            for j in range(i + 1):
                info[i, j] = info[j, i] = 0.5 * tr_pgpg(G[i], G[j]) / s2 ** 2
        W = np.linalg.inv(info)
        Uc = np.zeros_like(Phi)
        for i in range(nG):
            for j in range(nG):
                # Q_ij = X'V^-1 G_i V^-1 G_j V^-1 X
                Qij = (L[i] @ TX if G[j] is None
                       else _pair_sum([L[i][:, cc] @ S[d, q:] for cc, d in G[j]])) / s2 ** 3
                Uc += W[i, j] * (Qij - P[i] @ Phi @ P[j])
        PhiA = Phi + 2 * Phi @ Uc @ Phi
        c["kenward_roger"] = _KenwardRoger(Phi, PhiA, P, W)
    return c["kenward_roger"]


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


def contest(m: Any, L: ArrayLike, joint: bool = True, ddf: str = "Satterthwaite") -> pd.DataFrame:
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
