# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The random-effects side of a model's set-up, compiled (once per model): Z row-wise
from the terms' grouping codes and left-hand-side matrices, the pattern of Z'Z, the
column structure (term and offset in its level block of each column of Z), and Z'W[X y].
Each gives the same numbers, in the same order of operations, as the numpy expressions
it replaces (see pymer.terms.RandomEffects).
"""
import numpy as np
from libc.stdint cimport int64_t


def z_rows(list codes, list X, const int64_t[::1] col_offsets, Py_ssize_t n):
    """Z row-wise: (n, K) column indices and values, K = the terms' total number of
    left-hand-side columns; term t's column c of row i is ``col_offsets[t] + codes[t][i] *
    k_t + c`` with value ``X[t][i, c]``.

    Parameters
    ----------
    codes : list of (n,) int64 arrays
        Each term's grouping codes (0-based levels).
    X : list of (n, k_t) float64 arrays
        Each term's left-hand-side model matrix.
    col_offsets : int64 array
        Each term's first column of Z.
    n : int
        Number of observations.
    """
    cdef Py_ssize_t nt = len(codes), t, i, c, k, j = 0, K = 0
    for t in range(nt):
        K += (<object> X[t]).shape[1]
    zcols_a = np.empty((n, K), dtype=np.int64)
    zvals_a = np.empty((n, K), dtype=np.float64)
    cdef int64_t[:, ::1] zcols = zcols_a
    cdef double[:, ::1] zvals = zvals_a
    cdef const int64_t[::1] cd
    cdef const double[:, :] xv
    cdef int64_t off
    for t in range(nt):
        cd = codes[t]
        xv = X[t]
        k = xv.shape[1]
        off = col_offsets[t]
        if cd.shape[0] != n or xv.shape[0] != n:
            raise ValueError(f"term {t} has {cd.shape[0]} codes and {xv.shape[0]} rows, not {n}")
        with nogil:
            for i in range(n):
                for c in range(k):
                    zcols[i, j + c] = off + cd[i] * k + c
                    zvals[i, j + c] = xv[i, c]
        j += k
    return zcols_a, zvals_a


def small_pattern(const int64_t[:, ::1] zcols, Py_ssize_t q):
    """CSC pattern (both triangles, rows sorted) of Z'Z from Z's columns row-wise, on a
    dense q x q mask (for small q): every pair of columns that share a row."""
    cdef Py_ssize_t n = zcols.shape[0], K = zcols.shape[1], i, a, b, r, c, nnz = 0
    mask_a = np.zeros((max(q, 1), max(q, 1)), dtype=np.uint8)
    cdef unsigned char[:, ::1] mask = mask_a
    colptr_a = np.zeros(q + 1, dtype=np.int64)
    cdef int64_t[::1] colptr = colptr_a
    with nogil:
        for i in range(n):
            for a in range(K):
                for b in range(K):
                    mask[zcols[i, b], zcols[i, a]] = 1
        for r in range(q):
            for c in range(q):
                nnz += mask[r, c]
            colptr[r + 1] = nnz
    rowind_a = np.empty(nnz, dtype=np.int64)
    cdef int64_t[::1] rowind = rowind_a
    nnz = 0
    with nogil:
        for r in range(q):
            for c in range(q):
                if mask[r, c]:
                    rowind[nnz] = c
                    nnz += 1
    return colptr_a, rowind_a


def sparse_pattern(const int64_t[:, ::1] zcols, Py_ssize_t q):
    """CSC pattern (both triangles, rows sorted) of Z'Z from Z's columns row-wise, for any
    q: Z by columns (its rows per column, by counting), then per column a marker pass over
    the columns of its rows (what the sparse product Z'Z's structure holds)."""
    cdef Py_ssize_t n = zcols.shape[0], K = zcols.shape[1], i, a, b, c, t, nnz, pass_
    cdef int64_t r
    zp_a = np.zeros(q + 1, dtype=np.int64)
    cdef int64_t[::1] zp = zp_a
    cdef int64_t[::1] zr = np.empty(max(n * K, 1), dtype=np.int64)
    cdef int64_t[::1] fill = np.empty(max(q, 1), dtype=np.int64)
    cdef int64_t[::1] mark = np.full(max(q, 1), -1, dtype=np.int64)
    colptr_a = np.zeros(q + 1, dtype=np.int64)
    cdef int64_t[::1] colptr = colptr_a
    cdef int64_t[::1] rowind = np.empty(1, dtype=np.int64)
    with nogil:
        for i in range(n):
            for a in range(K):
                zp[zcols[i, a] + 1] += 1
        for c in range(q):
            zp[c + 1] += zp[c]
            fill[c] = zp[c]
        for i in range(n):
            for a in range(K):
                c = zcols[i, a]
                zr[fill[c]] = i
                fill[c] += 1
        # pass 0 counts each column's entries; pass 1, column c's neighbours r (the
        # pattern is symmetric) append c to column r: c increases, so rows come sorted
        for pass_ in range(2):
            nnz = 0
            for c in range(q):
                for t in range(zp[c], zp[c + 1]):
                    i = zr[t]
                    for b in range(K):
                        r = zcols[i, b]
                        if mark[r] != 2 * c + pass_:
                            mark[r] = 2 * c + pass_
                            if pass_:
                                rowind[fill[r]] = c
                                fill[r] += 1
                            nnz += 1
                if not pass_:
                    colptr[c + 1] = nnz
            if not pass_:
                for c in range(q):
                    fill[c] = colptr[c]
                with gil:
                    rowind = np.empty(max(nnz, 1), dtype=np.int64)
    return colptr_a, np.asarray(rowind)[:colptr[q]].copy()


def column_structure(const int[::1] term_k, const int64_t[::1] nlev):
    """Term index and offset inside its level block of every column of Z (int32 arrays)."""
    cdef Py_ssize_t nt = term_k.shape[0], t, l, c, j = 0, q = 0
    for t in range(nt):
        q += term_k[t] * nlev[t]
    col_term_a = np.empty(q, dtype=np.int32)
    col_off_a = np.empty(q, dtype=np.int32)
    cdef int[::1] col_term = col_term_a
    cdef int[::1] col_off = col_off_a
    with nogil:
        for t in range(nt):
            for l in range(nlev[t]):
                for c in range(term_k[t]):
                    col_term[j] = <int> t
                    col_off[j] = <int> c
                    j += 1
    return col_term_a, col_off_a


def zt_xy(const int64_t[:, ::1] zcols, const double[:, ::1] zvals, const double[:, ::1] X,
          const double[::1] y, w, Py_ssize_t q):
    """Z'W[X y] (q x (p + 1), column-major) for X (n x p, row-major) and y, W = diag(w)
    (w None: the identity), in one pass over the rows: each row's values of Z times its
    whole row of W[X y]. Per entry the sum over the rows in row order of z_ia * (x_ij w_i),
    as ``Z'(W[X y])`` sums it (without forming [X y] or W[X y])."""
    cdef Py_ssize_t n = zcols.shape[0], K = zcols.shape[1], p = X.shape[1], i, a, j
    cdef int64_t c
    cdef double z, wi
    cdef bint weighted = w is not None
    cdef const double[::1] wv = w if weighted else y
    if X.shape[0] != n or y.shape[0] != n or (weighted and wv.shape[0] != n):
        raise ValueError(f"X, y and w must have {n} rows, as Z")
    out_a = np.zeros((q, p + 1), dtype=np.float64)
    cdef double[:, ::1] out = out_a
    with nogil:
        for i in range(n):
            for a in range(K):
                c = zcols[i, a]
                z = zvals[i, a]
                if weighted:
                    wi = wv[i]
                    for j in range(p):
                        out[c, j] += z * (X[i, j] * wi)
                    out[c, p] += z * (y[i] * wi)
                else:
                    for j in range(p):
                        out[c, j] += z * X[i, j]
                    out[c, p] += z * y[i]
    return np.asfortranarray(out_a)
