# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""A model matrix's term blocks written in one pass over its rows, without the GIL: each
block is the row-wise Kronecker product of the term's variables' columns (numeric
columns, or a factor's contrast rows picked by its codes), the first variable varying
fastest. Each entry is the same product, in the same order, as numpy's
``B_m[:, :, None] * (... (B_1[:, :, None] * 1.0) ...)[:, None, :]`` with the factors'
``B = C[codes]`` formed first, without any n x k temporary, and X is written row by
row once (a pass per term would read and write all of X's cache lines per term)."""
import numpy as np
from libc.stdlib cimport malloc, free
from libc.stdint cimport int64_t


def kron_blocks(double[:, ::1] out, bint intercept, list terms):
    """Write the terms' blocks side by side into ``out``, after a column of ones when
    ``intercept``.

    Parameters
    ----------
    out : (n, p) float64, C-contiguous
    intercept : bool
        Whether column 0 is the intercept's (then the first block starts at column 1).
    terms : list of (mats, codes)
        Per term, per variable: ``mats[j]`` a float64 C-contiguous array, the variable's
        n x k_j numeric columns or a factor's L x k_j contrast matrix, and ``codes[j]``
        None for numeric columns or the factor's (n,) int64 codes (0 <= code < L).
    """
    cdef Py_ssize_t n = out.shape[0], nt = len(terms), m = 0, t, j, i, a, b, w, kj, col
    cdef Py_ssize_t maxw = 1, total = 0, width, off = 1 if intercept else 0
    for t in range(nt):
        if len(terms[t][0]) != len(terms[t][1]) or len(terms[t][0]) == 0:
            raise ValueError(f"term {t} needs a matrix and one codes entry (or None) per variable")
        m += len(terms[t][0])
    cdef const double **base = <const double **> malloc(max(m, 1) * sizeof(double *))
    cdef const int64_t **cd = <const int64_t **> malloc(max(m, 1) * sizeof(int64_t *))
    cdef Py_ssize_t *k = <Py_ssize_t *> malloc(max(m, 1) * sizeof(Py_ssize_t))
    cdef Py_ssize_t *nrow = <Py_ssize_t *> malloc(max(m, 1) * sizeof(Py_ssize_t))
    cdef Py_ssize_t *first = <Py_ssize_t *> malloc((nt + 1) * sizeof(Py_ssize_t))
    cdef double *buf = NULL
    cdef double *nxt
    cdef double *cur
    cdef double *dest
    cdef const double *row
    cdef const double[:, ::1] M
    cdef const int64_t[::1] c
    cdef int64_t r
    cdef bint bad = False
    try:
        j = 0
        for t in range(nt):
            first[t] = j
            width = 1
            for M, codes in zip(*terms[t]):
                k[j] = M.shape[1]
                nrow[j] = M.shape[0]
                base[j] = &M[0, 0] if M.shape[0] > 0 and M.shape[1] > 0 else NULL
                if codes is None:
                    cd[j] = NULL
                    if M.shape[0] != n:
                        raise ValueError(f"term {t}: a variable has {M.shape[0]} rows, not {n}")
                else:
                    c = codes
                    if c.shape[0] != n:
                        raise ValueError(f"term {t}: a factor has {c.shape[0]} codes, not {n}")
                    cd[j] = &c[0] if n > 0 else NULL
                width *= k[j]
                maxw = max(maxw, width)
                j += 1
            total += width
        first[nt] = m
        if off < 0 or off + total > out.shape[1]:
            raise ValueError(f"the blocks' {total} columns from {off} do not fit in {out.shape[1]}")
        if n == 0 or off + total == 0:
            return
        buf = <double *> malloc(2 * maxw * sizeof(double))
        with nogil:
            for i in range(n):
                if intercept:
                    out[i, 0] = 1.0
                col = off
                for t in range(nt):
                    cur = buf
                    nxt = buf + maxw
                    cur[0] = 1.0
                    w = 1
                    for j in range(first[t], first[t + 1]):
                        kj = k[j]
                        if kj == 0:
                            w = 0
                            break
                        if cd[j] == NULL:
                            row = base[j] + i * kj
                        else:
                            r = cd[j][i]
                            if r < 0 or r >= nrow[j]:
                                bad = True
                                break
                            row = base[j] + r * kj
                        dest = &out[i, col] if j == first[t + 1] - 1 else nxt
                        for b in range(kj):
                            for a in range(w):
                                dest[b * w + a] = row[b] * cur[a]
                        nxt = cur
                        cur = dest
                        w *= kj
                    if bad:
                        break
                    col += w
                if bad:
                    break
        if bad:
            raise IndexError(f"a factor code is out of its contrast matrix's rows (row {i})")
    finally:
        free(base)
        free(cd)
        free(k)
        free(nrow)
        free(first)
        free(buf)
