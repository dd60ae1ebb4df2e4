"""Random-effects terms: Z (row-wise), the theta -> Lambda map, bounds and names.

The terms are ordered as lme4 orders them: only when some term has more levels
than the term before it, and then by R's ``rev(order(nlevels))``: decreasing
number of levels, ties in reverse formula order. Within a term the columns
of Z are level-major: level l of a term with k columns owns columns
offset + l*k ... offset + l*k + k - 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np
import scipy.sparse as sp

from ._core._zsetup import column_structure, small_pattern, sparse_pattern, z_rows


@dataclass
class ReTerm:
    """One random-effects term (one bar after expansion) of a fitted model."""

    group: str
    colnames: list
    levels: list
    codes: np.ndarray
    X: np.ndarray
    lhs: str = ""

    @property
    def k(self) -> int:
        return len(self.colnames)

    @property
    def nlev(self) -> int:
        return len(self.levels)

    @property
    def ntheta(self) -> int:
        return self.k * (self.k + 1) // 2


@dataclass
class RandomEffects:
    """The random-effects structure of a model: terms in lme4's order and Z."""

    terms: list
    n: int
    col_offsets: np.ndarray = field(init=False)
    theta_offsets: np.ndarray = field(init=False)
    theta_diag: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        self.col_offsets = np.array([0, *accumulate(t.k * t.nlev for t in self.terms)], dtype=np.int64)
        self.theta_offsets = np.array([0, *accumulate(t.ntheta for t in self.terms)], dtype=np.int64)
        # which elements of theta are diagonal (bounded below by 0): isSingular's, per fit
        self.theta_diag = np.array([r == c for t in self.terms for r, c in lower_tri_pairs(t.k)], dtype=bool)

    @classmethod
    def from_formula_terms(cls, random_terms, n: int) -> "RandomEffects":
        """Order the parsed bar terms as lme4 does (see :func:`term_order`)."""
        terms = [
            ReTerm(group=r.group, colnames=list(r.colnames), levels=list(r.levels),
                   codes=np.asarray(r.codes, dtype=np.int64),
                   X=np.asarray(r.X, dtype=np.float64), lhs=getattr(r, "lhs", ""))
            for r in random_terms
        ]
        return cls([terms[i] for i in term_order([t.nlev for t in terms])], n)

    # ---- sizes -------------------------------------------------------------
    @property
    def q(self) -> int:
        return int(self.col_offsets[-1])

    @property
    def ntheta(self) -> int:
        return int(self.theta_offsets[-1])

    @property
    def term_k(self) -> np.ndarray:
        return np.array([t.k for t in self.terms], dtype=np.int32)

    # ---- Z -----------------------------------------------------------------
    def zrows(self):
        """Z row-wise: (n, K) column indices and values, K = sum of k over terms."""
        return z_rows([np.ascontiguousarray(t.codes, dtype=np.int64) for t in self.terms],
                      [np.asarray(t.X, dtype=np.float64) for t in self.terms], self.col_offsets, self.n)

    def Z(self) -> sp.csr_matrix:
        zcols, zvals = self.zrows()
        K = zcols.shape[1]
        indptr = np.arange(0, self.n * K + 1, K, dtype=np.int64)
        Z = sp.csr_matrix((zvals.ravel(), zcols.ravel(), indptr), shape=(self.n, self.q))
        return Z

    def pattern(self, zcols: np.ndarray):
        """CSC pattern (both triangles, sorted rows) of Z'Z, block-dense by construction."""
        zc = np.ascontiguousarray(zcols, dtype=np.int64)
        # small q: a dense mask is cheaper than the columns' marker passes
        return small_pattern(zc, self.q) if self.q <= 400 else sparse_pattern(zc, self.q)

    def column_structure(self):
        """Term index and offset inside its level block for every column of Z."""
        return column_structure(self.term_k, np.array([t.nlev for t in self.terms], dtype=np.int64))

    # ---- theta ---------------------------------------------------------------
    def theta_start(self) -> np.ndarray:
        """lme4's starting value: identity relative covariance factors."""
        return np.array([1.0 if r == c else 0.0 for t in self.terms for r, c in lower_tri_pairs(t.k)],
                        dtype=np.float64)

    def lower_bounds(self) -> np.ndarray:
        """Lower bounds of theta: 0 for the diagonal elements of the factors, -inf below."""
        return np.array([0.0 if r == c else -np.inf for t in self.terms for r, c in lower_tri_pairs(t.k)],
                        dtype=np.float64)

    def theta_names(self) -> list:
        names = []
        for t in self.terms:
            for r, c in lower_tri_pairs(t.k):
                if r == c:
                    names.append(f"{t.group}.{t.colnames[r]}")
                else:
                    names.append(f"{t.group}.{t.colnames[r]}.{t.colnames[c]}")
        return names

    def factors(self, theta) -> list:
        """Per-term lower-triangular relative covariance factor T (k x k)."""
        out = []
        for t, o in zip(self.terms, self.theta_offsets):
            T = np.zeros((t.k, t.k))
            rows, cols = _lower_tri_indices(t.k)
            T[rows, cols] = theta[o:o + t.ntheta]
            out.append(T)
        return out

    def sd_cor(self, theta, sigma=1.0, undefined_cor=np.nan) -> np.ndarray:
        """Standard deviations and correlations of the random effects, per term in
        lme4's theta order (sd on the diagonal, correlations below it), for residual
        scale `sigma`; a correlation with a zero sd is `undefined_cor`."""
        out = []
        for T in self.factors(theta):
            S = sigma ** 2 * T @ T.T
            k = S.shape[0]
            sd = np.sqrt(np.diag(S))
            for r, c in lower_tri_pairs(k):
                if r == c:
                    out.append(sd[r])
                else:
                    out.append(S[r, c] / (sd[r] * sd[c]) if sd[r] > 0 and sd[c] > 0 else undefined_cor)
        return np.asarray(out, dtype=np.float64)

    def Lambda(self, theta) -> sp.csc_matrix:
        """Lambda (q x q), block diagonal with one T per level of each term."""
        blocks = [sp.kron(sp.identity(t.nlev, format="csc"), sp.csc_matrix(T), format="csc")
                  for t, T in zip(self.terms, self.factors(theta))]
        return sp.block_diag(blocks, format="csc") if blocks else sp.csc_matrix((0, 0))

    def is_singular(self, theta, tol: float = 1e-4) -> bool:
        """lme4's isSingular: a diagonal element of theta within tol of its bound 0."""
        return bool(np.any(np.asarray(theta)[self.theta_diag] < tol))


def term_order(nlevels) -> list:
    """The order lme4 gives the random-effects terms, from their numbers of levels in
    formula order: formula order unless some term has more levels than the one before
    it, else R's ``rev(order(nlevels))`` (decreasing, ties in reverse formula order:
    ``(1|Part) + (1|Operator) + (1|Part:Operator)`` with 10 parts and 10 operators
    gives Part:Operator, Operator, Part)."""
    nl = [int(v) for v in nlevels]
    if not any(b > a for a, b in zip(nl, nl[1:])):
        return list(range(len(nl)))
    ascending = sorted(range(len(nl)), key=lambda i: nl[i])     # stable, as R's order()
    return ascending[::-1]


def lower_tri_pairs(k: int) -> list:
    """(row, col) of a k x k lower triangle in column-major order: lme4's order of theta
    and of the sd/cor parameters. The one iterator every caller uses."""
    return [(r, c) for c in range(k) for r in range(c, k)]


def _lower_tri_indices(k: int):
    """Row and column indices of the lower triangle in column-major order (lme4's theta order)."""
    pairs = lower_tri_pairs(k)
    return (np.array([r for r, _ in pairs], dtype=np.int64), np.array([c for _, c in pairs], dtype=np.int64))
