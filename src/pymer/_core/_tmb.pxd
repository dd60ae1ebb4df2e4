# The compiled Laplace state of glmmTMB's models (_tmb.pyx), for its gradient (_tmb_grad.pyx).
from libc.stdint cimport int64_t
from pymer._core._pls cimport PLS

# the families' codes (tmb/families.py's TMBFamily.code)
cdef enum:
    TMB_GAUSSIAN = 0
    TMB_BINOMIAL = 1
    TMB_POISSON = 2
    TMB_GAMMA = 3
    TMB_NBINOM2 = 4
    TMB_NBINOM1 = 5
    TMB_BETA = 6
    TMB_BETABINOMIAL = 7
    TMB_TWEEDIE = 8
    TMB_GENPOIS = 9


cdef double obs_ll(int fam, int link, bint trunc, bint has_zi, double y, double N, double eta,
                   double lpz, double lq, double cst, double cst0, double phi, double power,
                   double *d1, double *d2) noexcept nogil
cdef void link_eval(int link, double eta, double *mu, double *m1, double *m2) noexcept nogil
cdef void base_ll(int fam, double y, double N, double mu, double logmu, double phi, double power,
                  double *l, double *l1, double *l2) noexcept nogil
cdef double trigamma(double x) noexcept nogil
cdef double tweedie_logw(double y, double phi, double p, double *d_logphi=*, double *d_p=*) noexcept nogil
cdef double log_zero(double lpz, double lp0) noexcept nogil
cdef void obs_const(int fam, bint trunc, bint has_zi, double y, double N, double etaz, double phi,
                    double power, double *lpz, double *lq, double *cst, double *cst0) noexcept nogil


cdef class TMBLaplace:
    cdef PLS pls
    cdef readonly int family, link
    cdef readonly bint trunc, has_zi, joint
    cdef Py_ssize_t n, p, q, K, m
    cdef double[::1] y, size, pw, fixed, etaz, phi, lpz, lq, cst, cst0
    cdef public double power
    cdef double[::1] eta, g, h, u, u_old, u_new, b, beta, beta_old, beta_new
    cdef double[::1, :] X
    cdef int64_t[:, ::1] zcols, zpos
    cdef double[:, ::1] zvals
    cdef int64_t[::1] colptr, rowind
    cdef public int maxit
    cdef readonly double pen, loglik_sum, usq, logdet, logdetRX
    cdef readonly int iterations, status
    cdef bint pos_def

    cdef double evaluate(self) noexcept nogil
    cdef int factor(self, bint observed) noexcept nogil
    cdef double step_size(self) noexcept nogil
    cdef void take_step(self, double s) noexcept nogil
    cdef void save_old(self) noexcept nogil
    cdef int run(self) noexcept nogil
