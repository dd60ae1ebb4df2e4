# The blocked factorization of A + I = Lambda' Z'WZ Lambda + I (see _blocked.pyx): the first
# random-effects term per level, its coupling L21 on the pattern of Z'Z, the dense Schur
# complement S. Plain nogil functions on the PLS core's arrays, cimported by _pls.pyx.
from libc.stdint cimport int64_t


cdef struct Blocked:
    Py_ssize_t q, q1, q2, k1
    const int64_t *cp        # CSC pattern of Z'Z (both triangles, rows sorted)
    const int64_t *ri
    double *L11              # k1 x k1 lower Cholesky factor per level of the first term
    double *l21              # L21 on the pattern of Z'Z (the rows >= q1 of the first q1 columns)
    double *S                # q2 x q2 Schur complement, column-major; its Cholesky factor (lower)


cdef int blocked_factor(Blocked *F, const double *av, double *logdet) noexcept nogil
cdef void blocked_solve_fwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil
cdef void blocked_solve_bwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil
