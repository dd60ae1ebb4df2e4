# The blocked factorization of A + I = Lambda' Z'WZ Lambda + I (see _blocked.pyx): the first
# random-effects term per level, its coupling L21 on the pattern of Z'Z, the dense Schur
# complement S. Plain nogil functions on the PLS core's arrays, cimported by _pls.pyx.
from libc.stdint cimport int64_t
from pymer._core._eval_worker cimport EvalWorker


cdef struct Blocked:
    Py_ssize_t q, q1, q2, k1
    const int64_t *cp        # CSC pattern of Z'Z (both triangles, rows sorted)
    const int64_t *ri
    double *L11              # k1 x k1 lower Cholesky factor per level of the first term
    double *l21              # L21 on the pattern of Z'Z (the rows >= q1 of the first q1 columns)
    double *S                # q2 x q2 Schur complement, column-major; its Cholesky factor (lower)
    # the Schur complement sparse: pinv NULL when it is dense, in natural order
    const int64_t *pinv      # place of each row of S in the fill-reducing order
    Py_ssize_t nsuper
    const int64_t *sup       # first column of each supernode (in the order), nsuper + 1
    const int64_t *spi       # supernode s's rows (in the order, its own columns first):
    const int64_t *srow      #   srow[spi[s]:spi[s + 1]]
    # the assembly of S (_schur.level_entries, a22_entries), width columns at a time
    Py_ssize_t width
    Py_ssize_t E
    const int64_t *lstart    # level b's entries: lstart[b]:lstart[b + 1], rows sorted in the
    const int64_t *erow      #   buffer's order (erow), each one's offset among the level's
    const int64_t *esrc      #   rows in natural order (esrc)
    const int64_t *a22ptr    # A22's lower entries by buffer column: row, position in A
    const int64_t *a22row
    const int64_t *a22pos
    int64_t *cursor          # scratch: per level, its next entry
    double *G                # scratch: E x k1, the levels' L21 values in the buffer's order
    double *Lc               # sparse: each supernode's rows below its diagonal block, compact
                             #   (nr x nc column-major, one after another; _schur_solve.pyx)
    double *work             # scratch
    # the evaluation's second thread (_eval_worker.pyx), NULL for one thread: it assembles
    # the columns from split on (with its own cursors) and takes every other update panel
    # of the supernodes whose updates cost at least PANEL_WORK (nr^2 (nc + 16): the
    # products' flops and the scatter of their nr^2 / 2 entries; InstEval: the 18
    # supernodes with 163 rows or more below them), in its own panel W2
    EvalWorker *worker
    Py_ssize_t split
    int64_t *cursor2
    double *W2


# the supernodal factorization's updates are formed SCHUR_PANEL columns at a time
cdef enum:
    SCHUR_PANEL = 64
    PANEL_WORK = 1000000


cdef int blocked_factor(Blocked *F, const double *av, double *logdet) noexcept nogil
cdef void blocked_solve_fwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil
cdef void blocked_solve_bwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil
