# Compensated (Neumaier) summation, shared by the compiled row sums whose totals must not
# depend on the order or blocking of the rows: the GLMM deviance of the in-memory PIRLS
# (_pirls.pyx) and of a Dask partition (pymer/dask/_pirls_rows.pyx). The pair (s, c)
# holds the sum to O(n eps^2 sum |x|) (Neumaier 1974), far below one rounding of the
# total, so s + c is the correctly rounded sum in all but rare ties, whatever the order
# of the terms and however the pairs of blocks are combined (pymer.dask.pirls.Compensated).
# Inline: each module gets its own machine code. Needs IEEE arithmetic (no -ffast-math).
from libc.math cimport fabs, isfinite


cdef inline void neumaier_add(double *s, double *c, double x) noexcept nogil:
    """s + c += x: the running sum s and the running compensation c."""
    cdef double t = s[0] + x
    if fabs(s[0]) >= fabs(x):
        c[0] += (s[0] - t) + x
    else:
        c[0] += (x - t) + s[0]
    s[0] = t


cdef inline double neumaier_total(double s, double c) noexcept nogil:
    """The sum s + c (s itself when it is infinite or NaN: c is then NaN)."""
    return s + c if isfinite(s) else s
