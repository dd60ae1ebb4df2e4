# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The least-squares residual of a tall model matrix and its cross-products in one pass
over the rows, without the GIL (the set-up of a large LMM: r = y - X beta, X'Wr and r'Wr,
where numpy would make three passes and an n-vector temporary per pass)."""
import numpy as np

# rows summed into a block's partial sums before they join the totals (shorter chains
# of additions: the totals' rounding error grows with n / BLOCK + BLOCK, not n)
cdef enum:
    BLOCK = 256


def residual_crossprod(const double[:, ::1] X, const double[::1] y, beta, w):
    """r = y - X beta, X'Wr and r'Wr (W = diag(w); w None: the identity) in one pass over
    the rows of X (n x p, row-major).

    Parameters
    ----------
    X : (n, p) float64, C-contiguous
    y : (n,) float64
    beta : (p,) float64 or None
        None: r = y (then X'Wy and y'Wy).
    w : (n,) float64 or None

    Returns
    -------
    r : (n,) ndarray
    xtwr : (p,) ndarray
    rtwr : float
    """
    cdef Py_ssize_t n = X.shape[0], p = X.shape[1], i, j, i0, i1
    cdef bint weighted = w is not None, has_beta = beta is not None
    cdef const double[::1] wv = w if weighted else y
    cdef const double[::1] b = beta if has_beta else np.zeros(p)
    if y.shape[0] != n or (weighted and wv.shape[0] != n) or b.shape[0] != p:
        raise ValueError(f"y and w need {n} values and beta {p}, as X has {n} x {p}")
    r_a = np.empty(n)
    xtr_a = np.zeros(p)
    part_a = np.zeros(p)
    cdef double[::1] r = r_a, xtr = xtr_a, part = part_a
    cdef double ri, wri, rr = 0.0, prr
    with nogil:
        i0 = 0
        while i0 < n:
            i1 = min(i0 + BLOCK, n)
            for j in range(p):
                part[j] = 0.0
            prr = 0.0
            for i in range(i0, i1):
                ri = y[i]
                if has_beta:
                    for j in range(p):
                        ri -= X[i, j] * b[j]
                r[i] = ri
                wri = ri * wv[i] if weighted else ri
                for j in range(p):
                    part[j] += X[i, j] * wri
                prr += ri * wri
            for j in range(p):
                xtr[j] += part[j]
            rr += prr
            i0 = i1
    return r_a, xtr_a, rr
