# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The moment start of a model whose random effects are all scalar intercepts, compiled
(pymer.lmm.LinearMixedModel.start_theta): per term the group means of the fixed-effects
residuals, their pooled within-group variance and the variance of the means. Every sum
is formed as the numpy expression it replaces forms it (``np.bincount`` in row order,
``ndarray.sum`` by numpy's pairwise summation), so the start is the same to the bit."""
import numpy as np
from libc.math cimport sqrt, isnan, isfinite
from libc.stdint cimport int64_t

# numpy's pairwise summation: halves down to blocks of up to 128 values, each summed by
# 8 accumulators
cdef enum:
    PW_BLOCKSIZE = 128


cdef double _pairwise(const double *a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, n2
    cdef double res, r0, r1, r2, r3, r4, r5, r6, r7
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= PW_BLOCKSIZE:
        r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
        r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
        i = 8
        while i < n - (n % 8):
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, n2) + _pairwise(a + n2, n - n2)


cdef double np_sum(const double *a, Py_ssize_t n) noexcept nogil:
    """``a.sum()`` of a contiguous float64 array as numpy forms it."""
    return 0.0 + _pairwise(a, n)


def pairwise_sum(const double[::1] a) -> float:
    """``a.sum()`` (numpy's summation order) of a contiguous float64 vector."""
    if a.shape[0] == 0:
        return 0.0
    return np_sum(&a[0], a.shape[0])


def intercept_start(list codes, list nlev, const double[::1] r):
    """The moment start of scalar random intercepts: per term t, theta_t =
    clip(sqrt(tau2_t / s2), 0.01, 100) with s2 the smallest pooled within-group variance
    of the residuals r and tau2_t the count-weighted mean square of the group means less
    s2 over the mean count of the levels with rows (0 at the least); None where s2 is not
    positive and finite or a theta is NaN.

    Parameters
    ----------
    codes : list of (n,) int64 arrays
        Each term's grouping codes (0 <= code < nlev[t]) on r's rows.
    nlev : list of int
        Each term's number of levels.
    r : (n,) float64
        The fixed-effects residuals.
    """
    cdef Py_ssize_t nt = len(codes), n = r.shape[0], t, i, L, npos, Lmax = 1
    for t in range(nt):
        Lmax = max(Lmax, <Py_ssize_t> nlev[t])
    cnt_a = np.empty((nt, Lmax))
    mean_a = np.empty((nt, Lmax))
    sq_a = np.empty(max(n, Lmax))
    within_a = np.empty(nt)
    cdef double[:, ::1] cnt = cnt_a, mean = mean_a
    cdef double[::1] sq = sq_a, within = within_a
    cdef const int64_t[::1] c
    cdef double s2, d, scl, possum, cbar, tau2, th
    theta_a = np.empty(nt)
    cdef double[::1] theta = theta_a
    for t in range(nt):
        c = codes[t]
        L = nlev[t]
        if c.shape[0] != n:
            raise ValueError(f"term {t} has {c.shape[0]} codes, not {n}")
        with nogil:
            for i in range(L):
                cnt[t, i] = 0.0
                mean[t, i] = 0.0
            for i in range(n):
                if c[i] < 0 or c[i] >= L:
                    break
                cnt[t, c[i]] += 1.0
                mean[t, c[i]] += r[i]            # np.bincount(c, weights=r): row order
        if n > 0 and (c[i] < 0 or c[i] >= L):
            raise IndexError(f"term {t}: a code is outside its {L} levels")
        with nogil:
            for i in range(L):
                mean[t, i] = mean[t, i] / (cnt[t, i] if cnt[t, i] > 1.0 else 1.0)
            for i in range(n):
                d = r[i] - mean[t, c[i]]
                sq[i] = d * d
            within[t] = (np_sum(&sq[0], n) if n > 0 else 0.0) / <double> max(n - L, 1)
    # min(): the first of the smallest (NaN where it comes first)
    s2 = within[0] if nt > 0 else np.nan
    for t in range(1, nt):
        if within[t] < s2:
            s2 = within[t]
    if not (isfinite(s2) and s2 > 0):
        return None
    for t in range(nt):
        L = nlev[t]
        scl = 0.0
        possum = 0.0
        npos = 0
        for i in range(L):
            scl += cnt[t, i]                      # integer counts: exact in any order
            if cnt[t, i] > 0:
                possum += cnt[t, i]
                npos += 1
            sq[i] = mean[t, i] * mean[t, i] * cnt[t, i]
        cbar = possum / npos if npos else 0.0
        if cbar > 0:
            tau2 = (np_sum(&sq[0], L) if L > 0 else 0.0) / scl - s2 / cbar
            if 0.0 > tau2:
                tau2 = 0.0
        else:
            tau2 = 0.0
        th = sqrt(tau2 / s2)
        if isnan(th):
            return None
        theta[t] = 0.01 if th < 0.01 else (100.0 if th > 100.0 else th)
    return theta_a
