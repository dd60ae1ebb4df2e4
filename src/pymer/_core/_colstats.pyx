# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-column facts of a dense model matrix in one pass over it, without the GIL (lme4's
check.scaleX looks at them for every fit): the largest absolute value and whether every
value is 0 or 1 (an indicator column)."""
import numpy as np
from libc.math cimport fabs


cdef inline void _visit(double v, double *big, unsigned char *binary) noexcept nogil:
    cdef double a = fabs(v)
    if not a <= big[0] and big[0] == big[0]:     # larger, or NaN (which then stays)
        big[0] = a
    if v != 0.0 and v != 1.0:
        binary[0] = 0


def column_summary(const double[:, :] X):
    """(maxabs, binary) per column of X (n x p, either memory order): the largest |x| (NaN
    where the column holds a NaN, as ``np.max(np.abs(X), axis=0)``) and whether every
    value is 0.0 or 1.0 (as ``np.all((X == 0) | (X == 1), axis=0)``)."""
    cdef Py_ssize_t n = X.shape[0], p = X.shape[1], i, j
    big_a = np.zeros(p)
    bin_a = np.ones(p, dtype=np.uint8)
    cdef double[::1] big = big_a
    cdef unsigned char[::1] binary = bin_a
    cdef bint by_rows = X.strides[1] == sizeof(double)
    with nogil:
        if by_rows:
            for i in range(n):
                for j in range(p):
                    _visit(X[i, j], &big[j], &binary[j])
        else:
            for j in range(p):
                for i in range(n):
                    _visit(X[i, j], &big[j], &binary[j])
    return big_a, bin_a.astype(bool)
