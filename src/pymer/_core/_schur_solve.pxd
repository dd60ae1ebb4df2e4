# The blocked factor's solves when its Schur complement is sparse (see _schur_solve.pyx):
# each supernode's rows below its diagonal block in compact blocks (left there by the
# factorization), the solves per supernode. Dense Schur complements go to _blocked.pyx.
from libc.stdint cimport int64_t
from pymer._core._blocked cimport Blocked


cdef int schur_factor(Blocked *F, const double *av, double *logdet) noexcept nogil
cdef void schur_solve_fwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil
cdef void schur_solve_bwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil
cdef void schur_unpack(Py_ssize_t q2, Py_ssize_t nsuper, const int64_t *sup,
                       const int64_t *spi, const int64_t *srow, const double *work,
                       double *out) noexcept nogil
