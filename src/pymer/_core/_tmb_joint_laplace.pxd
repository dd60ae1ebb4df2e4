# The compiled Laplace core of glmmTMB's joint models (_tmb_joint_laplace.pyx), for its
# gradient (_tmb_joint_grad.pyx).
from libc.stdint cimport int64_t


cdef class JointCore:
    cdef readonly int family, link
    cdef readonly bint trunc, has_zi
    cdef readonly Py_ssize_t n, q, K, nterms, ntheta
    cdef double[::1] y, size, pw, cst, cst0, phi, fixc, fixz, etac, etaz, theta
    cdef double[::1] u, uw, un, step, grad, wvec, work
    cdef public double power
    cdef int64_t[:, ::1] cols
    cdef double[:, ::1] zx, vals, gd, Wd, H, F
    cdef int[::1] comp, slot_term, slot_c, term_k, term_slot, term_toff
    cdef public int maxit
    cdef readonly int status, iterations
    cdef readonly double loglik_sum, logdet, pen
    cdef bint theta_set

    cdef double evaluate(self, const double *u, bint derivs) noexcept nogil
    cdef int factor(self) noexcept nogil
    cdef bint newton_step(self) noexcept nogil
    cdef int run(self) noexcept nogil
