# The PIRLS state of a GLMM (see _pirls.pyx), declared for compiled callers: the
# optimizer loop of pymer._core._optim_glmm evaluates the Laplace deviance through
# laplace_c without a Python call.
from libc.stdint cimport int64_t
from pymer._core._pls cimport PLS


cdef class PIRLS:
    cdef PLS pls
    cdef readonly int family, link
    cdef public double nb_theta
    cdef readonly bint joint
    cdef Py_ssize_t n, p, q, K, m
    cdef double[::1] ylogy
    cdef double[::1] y, pw, offset, eta, mu, w, wres, Xb, u, u_old, u_new, b, beta, beta_old, beta_new, work
    cdef double[::1, :] X, Xz, WXz
    # joint: X and Z'W[X z] row by row (contiguous per observation; the same sums)
    cdef double[:, ::1] XR, ZtR
    cdef double[::1] beta_xb      # u only: the beta of Xb
    cdef bint xb_ok
    cdef int64_t[:, ::1] zcols
    cdef int64_t[:, ::1] zpos     # where row i's (a, b) product goes in Z'WZ's values
    cdef double[:, ::1] zvals
    cdef int64_t[::1] colptr, rowind
    cdef public int maxit
    cdef public double tol, tol_here
    cdef readonly double[16] steps
    cdef readonly int nsteps
    # the state is a converged mode whose factor is in the core (see predict_u), at
    # Lambda's blocks Told
    cdef readonly bint at_mode
    cdef double mode_nb_theta
    cdef double[::1] Told, dq1, dq2
    cdef readonly double pdev, ldL2, devsum, aic, usq
    cdef readonly int iterations, status
    cdef bint dev_ok                # devsum is that of the current point
    # inlined (family, link) of update_eta: 1 binomial/logit, 2 Poisson/log, 0 any other
    cdef int kind
    # -2 log-likelihood = aic_const + sum of deviance residuals (families without a
    # dispersion; checked per observation), for the NB theta aic_const_theta
    cdef double aic_const, aic_const_theta
    cdef bint aic_const_ok


    cdef void compute_Xb(self) noexcept nogil
    cdef void refresh_Xb(self) noexcept nogil
    cdef bint update_eta(self) noexcept nogil
    cdef double penalized_deviance(self) noexcept nogil
    cdef void set_aic_const(self) noexcept nogil
    cdef void build_crossprods(self) noexcept nogil
    cdef void scatter_joint(self, double *ZtR, double *zcol) noexcept nogil
    cdef double step_size(self) noexcept nogil
    cdef void take_step(self, double s) noexcept nogil
    cdef int factor_here(self) noexcept nogil
    cdef int run(self) noexcept nogil
    cdef void lambdat_apply(self, const double *T, const double *v, double *out) noexcept nogil
    cdef int predict_u(self, const double *theta, const double *beta) noexcept nogil
    cdef double laplace_c(self, const double *theta, const double *beta, const double *u0,
                          bint given_beta, bint given_u, bint predict) noexcept nogil
