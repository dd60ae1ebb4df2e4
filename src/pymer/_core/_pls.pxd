from libc.stdint cimport int64_t
from pymer._core.cholmod cimport cholmod_common, cholmod_factor, cholmod_sparse
# re-exported: the other cores cimport them from here
from pymer._core._blas_local cimport blas_single, blas_restore
from pymer._core._eval_worker cimport EvalWorker, worker_new, worker_free, worker_live

cdef class PLS:
    cdef cholmod_common c
    cdef cholmod_factor *L
    cdef readonly Py_ssize_t n, p, q, m, nterms, ntheta
    # full symmetric block-dense pattern of Z'WZ (CSC, rows sorted) and its values
    cdef int64_t[::1] colptr, rowind
    cdef public double[::1] ztz
    # upper triangle of Lambda' Z'WZ Lambda (the matrix CHOLMOD factors, plus I)
    cdef int64_t[::1] ucolptr, urowind
    cdef double[::1] uvals
    # column structure of Z: term of each column and offset inside its level block
    cdef int[::1] col_term, col_off
    cdef int[::1] term_k, term_toff, term_thoff
    cdef double[::1] Tbuf, work
    # Z'W[X y] (q x m) and [X y]'W[X y] (m x m), m = p + 1, column-major
    cdef public double[::1, :] ZtXy, XytXy
    cdef double[::1, :] RZXy, U
    cdef readonly double logdetL, logdetRX, pwrss
    cdef readonly int status
    # factorization: CHOLMOD (fill-reducing permutation P), or blocked: the first
    # term's block-diagonal part factored per level (L11, k1 x k1 blocks), its
    # coupling L21 on the pattern of Z'Z, and the dense Schur complement S (q2 x q2)
    cdef readonly bint blocked
    cdef readonly Py_ssize_t q1, q2, k1
    cdef readonly double cholmod_flops
    cdef double[::1] avals, l21, L11
    cdef double[::1, :] S
    # the Schur complement (_schur.pyx sets it up, _blocked.pyx runs it): sparse (its
    # fill-reducing order, supernodes) or dense; assembled schur_width columns at a time
    # from each level's entries in the buffer's order; scratch
    cdef readonly bint sparse_schur
    cdef readonly Py_ssize_t schur_width
    cdef readonly double schur_flops
    cdef int64_t[::1] s_pinv, s_sup, s_spi, s_srow
    cdef int64_t[::1] s_lstart, s_erow, s_esrc, s_a22ptr, s_a22row, s_a22pos, s_cursor
    cdef double[::1] bwork, s_G
    # the evaluation's second thread (eval_threads = 2 and a large Schur complement) and
    # its share's scratch: the assembly's columns from s_split on, its update panel
    cdef int _eval_threads
    cdef EvalWorker *worker
    # set (without the GIL too), the evaluations run on one thread though the helper exists
    # (e.g. while two evaluations run side by side); the answers are the same
    cdef public bint helper_paused
    cdef Py_ssize_t s_split
    cdef int64_t[::1] s_cursor2
    cdef double[::1] s_W2

    cdef cholmod_sparse A_view(self) noexcept nogil
    cdef void fill_T(self, const double *theta) noexcept nogil
    cdef void update_A(self) noexcept nogil
    cdef int update_L(self) noexcept nogil
    cdef int _update_L(self) noexcept nogil
    cdef int factor_cholmod(self) noexcept nogil
    cdef int factor_blocked(self) noexcept nogil
    cdef int cholmod_solve2(self, int sys1, int sys2, double *x, Py_ssize_t ncol) noexcept nogil
    cdef int solve_fwd(self, double *x, Py_ssize_t ncol) noexcept nogil
    cdef int solve_bwd(self, double *x, Py_ssize_t ncol) noexcept nogil
    cdef double objective_value(self, bint reml) noexcept nogil
    cdef int evaluate_nogil(self, const double *theta) noexcept nogil
    cdef int solve_u_nogil(self, const double *beta, double *u) noexcept nogil
    cdef int solve_beta_nogil(self, double *beta) noexcept nogil
    cdef void lambda_apply_nogil(self, const double *u, double *b) noexcept nogil

