# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The weighted cross-product Z'WZ of the random-effects model matrix on the PLS core's
pattern (the set-up of every linear mixed model, and of each partition on Dask).

Z is given row-wise (each observation's random-effects columns, in increasing order, and
their values). Only the lower triangle (row >= column) is accumulated over the
observations: its columns are the short ones (a level of the first term reaches a few
levels of the others; a level of a later term reaches many levels of the first), so the
searches stay in short columns and each observation writes about half the entries. The
upper triangle is then its mirror, in one pass over the pattern.
"""
import numpy as np
from libc.stdint cimport int64_t
from pymer._core._zwz cimport sorted_position


def crossprod_ztwz(const int64_t[::1] colptr, const int64_t[::1] rowind,
                   const int64_t[:, ::1] zcols, const double[:, ::1] zvals,
                   const double[::1] w, double[::1] out):
    """out += Z'WZ on the symmetric CSC pattern (colptr, rowind; rows sorted); Z given
    row-wise by zcols/zvals (n x K, one entry per random-effects column of each row, the
    columns of a row in increasing order).

    Parameters
    ----------
    colptr, rowind : int64 arrays
        The pattern (both triangles) of Z'Z, block-dense: the columns of one level block
        share their row pattern.
    zcols : (n, K) int64 array
        The random-effects columns of each observation, increasing along a row.
    zvals : (n, K) float64 array
        Their values in Z.
    w : (n,) float64 array
        Observation weights.
    out : float64 array
        Values on the pattern; Z'WZ is added to them.
    """
    cdef Py_ssize_t n = zcols.shape[0], K = zcols.shape[1], q = colptr.shape[0] - 1
    cdef Py_ssize_t i, a, a0, b, pos, start, end, prev, j, p
    cdef int64_t c, r
    cdef double wi, v
    cdef bint same
    cdef Py_ssize_t[::1] offs = np.zeros(max(K, 1), dtype=np.intp)
    cdef double[::1] low = np.zeros(max(rowind.shape[0], 1))
    cdef int64_t[::1] diag = np.zeros(max(q, 1), dtype=np.int64)
    cdef int64_t[::1] cursor = np.zeros(max(q, 1), dtype=np.int64)
    if out.shape[0] != rowind.shape[0]:
        raise ValueError("out must have one entry per entry of the pattern")
    with nogil:
        # the diagonal's place in each column (-1: not in the pattern)
        for j in range(q):
            diag[j] = -1
            if colptr[j + 1] > colptr[j]:
                pos = sorted_position(&rowind[0], colptr[j], colptr[j + 1] - 1, j)
                if rowind[pos] == j:
                    diag[j] = pos
        for i in range(n):
            wi = w[i]
            for b in range(K):
                c = zcols[i, b]
                start = colptr[c]
                end = colptr[c + 1]
                # the next column of the same level block has the same row pattern: the
                # rows a >= b are at the previous column's offsets (checked)
                same = b > 0 and c == zcols[i, b - 1] + 1
                if same:
                    for a in range(b, K):
                        pos = start + offs[a]
                        if pos >= end or rowind[pos] != zcols[i, a]:
                            same = False
                            break
                if not same:
                    a0 = b
                    prev = start
                    if diag[c] >= 0:
                        offs[b] = diag[c] - start
                        prev = diag[c] + 1
                        a0 = b + 1
                    for a in range(a0, K):
                        r = zcols[i, a]
                        if prev < end and rowind[prev] == r:
                            pos = prev
                        else:
                            pos = sorted_position(&rowind[0], prev if prev < end else start, end - 1, r)
                            if rowind[pos] != r:
                                pos = sorted_position(&rowind[0], start, end - 1, r)
                        offs[a] = pos - start
                        prev = pos + 1
                for a in range(b, K):
                    low[start + offs[a]] += wi * zvals[i, a] * zvals[i, b]
        # out += low + low' (upper entries: their mirror; the rows j of column i come in
        # increasing order as j runs over the columns, so a cursor per column finds them)
        for j in range(q):
            cursor[j] = colptr[j]
        for j in range(q):
            for p in range(colptr[j], colptr[j + 1]):
                r = rowind[p]
                v = low[p]
                if r != j:
                    out[cursor[r]] += v
                out[p] += v
                cursor[r] += 1
