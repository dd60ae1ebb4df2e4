# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Triangular solves with the blocked factor when its Schur complement is sparse
(supernodal, in CHOLMOD's fill-reducing order; see _blocked.pyx and _schur.pyx).

_blocked.pyx factors S = A22 + I - L21 L21' in the lower triangle of a dense q2 x q2
buffer, supernode by supernode. A dense triangular solve on that buffer costs q2^2 per
right-hand side although the factor has a fraction of the entries (InstEval: 1128^2
against ~320k). The factorization leaves every supernode's rows below its diagonal
block in one compact column-major block (nr x nc; _blocked.pyx solves them there and
never writes them back), and the solves run per supernode: LAPACK's triangular solve on
the diagonal block and one matrix product with the compact block, on the right-hand
sides permuted into the factor's order, CHUNK columns at a time. The diagonal blocks
stay in the dense buffer; schur_unpack puts the whole factor in a dense copy of it
(_selinv.pyx reads it there).

Scratch in the blocked record's work array, after the region _blocked.pyx uses for the
update panels (max(q2, most rows below a diagonal block x SCHUR_PANEL)): the compact
blocks, the permuted right-hand sides (q2 x CHUNK) and the products (max nr x CHUNK);
sparse_work_size gives the total.

A forward solve of several right-hand sides (the PLS update's [X y], 29 columns on
InstEval's interaction model) runs on them as rows instead (_solve_fwd_rows): each
row of x contiguous, so L21's entries and the compact blocks' rows each update a whole
row (all right-hand sides) at once, one pass over the factor in place of one per column
(InstEval: 4.1 ms of an evaluation's 19 before). Up to ROWS columns at a time, in
scratch of its own (malloc'ed per call: its size depends on the number of columns).
Fewer than ROWS_MIN right-hand sides (PIRLS and the TMB gradient: one; y ~ service's
[X y]: three) stay on the column path: as rows one took 2.1 ms against 1.2 on InstEval,
three no less than before. With the evaluation's second thread (_eval_worker.pyx) the
first term's part of the row-wise solve is split by columns (each thread half of them,
every entry by the same operations), the supernodes' part stays on one thread.
"""
import numpy as np
from libc.string cimport memcpy
from libc.stdlib cimport malloc, free
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dgemm, dtrsm
from pymer._core._blocked cimport Blocked, SCHUR_PANEL, blocked_factor, blocked_solve_fwd, blocked_solve_bwd
from pymer._core._eval_worker cimport worker_post, worker_wait

DEF CHUNK = 32
DEF ROWS = 64
DEF ROWS_MIN = 8
DEF TILE = 64


cdef inline void _layout(Py_ssize_t q2, Py_ssize_t nsuper, const int64_t *sup,
                         const int64_t *spi, Py_ssize_t *off) noexcept nogil:
    """off[0]: the compact blocks' start; off[1]: the right-hand sides'; off[2]: the
    products'; off[3]: the total size (all in doubles); off[4]: the most rows below a
    supernode's diagonal block. Before the compact blocks: the factorization's update
    panel (most rows x SCHUR_PANEL), at least q2 (the dense solves' permutation)."""
    cdef Py_ssize_t s, nc, nr, base, nbelow = 0, maxnr = 1
    for s in range(nsuper):
        nc = sup[s + 1] - sup[s]
        nr = spi[s + 1] - spi[s] - nc
        nbelow += nr * nc
        if nr > maxnr:
            maxnr = nr
    base = maxnr * (SCHUR_PANEL if maxnr > SCHUR_PANEL else maxnr)
    if base < q2:
        base = q2
    off[0] = base
    off[1] = base + nbelow
    off[2] = off[1] + q2 * CHUNK
    off[3] = off[2] + maxnr * CHUNK
    off[4] = maxnr


cdef inline const int64_t *_supernode(Blocked *F, Py_ssize_t s, Py_ssize_t *c0,
                                      Py_ssize_t *nc, Py_ssize_t *nr) noexcept nogil:
    """Supernode s: its first column c0 and nc columns (in the order); returns its rows
    below the diagonal block (nr of them)."""
    c0[0] = F.sup[s]
    nc[0] = F.sup[s + 1] - c0[0]
    nr[0] = F.spi[s + 1] - F.spi[s] - nc[0]
    return &F.srow[F.spi[s] + nc[0]]


def sparse_work_size(const int64_t[::1] sup, const int64_t[::1] spi, Py_ssize_t q2):
    """Doubles of scratch the sparse Schur complement needs (factorization and solves)."""
    cdef Py_ssize_t off[5]
    _layout(q2, sup.shape[0] - 1, &sup[0], &spi[0], off)
    return int(off[3])


cdef int schur_factor(Blocked *F, const double *av, double *logdet) noexcept nogil:
    """The blocked factorization (_blocked.blocked_factor); when the Schur complement is
    sparse, its factorization leaves each supernode's rows below its diagonal block in
    the compact blocks (F.Lc, set here)."""
    cdef Py_ssize_t off[5]
    if F.pinv != NULL and F.q2 > 0:
        _layout(F.q2, F.nsuper, F.sup, F.spi, off)
        F.Lc = F.work + off[0]
    return blocked_factor(F, av, logdet)


cdef void schur_unpack(Py_ssize_t q2, Py_ssize_t nsuper, const int64_t *sup,
                       const int64_t *spi, const int64_t *srow, const double *work,
                       double *out) noexcept nogil:
    """The sparse Schur complement's factor as a dense lower triangle: out (q2 x q2,
    column-major) holds a copy of the dense buffer (its diagonal blocks); each supernode's
    compact rows below its diagonal block (in the scratch work, after the factorization)
    go to their places (in the factor's order). sup, spi, srow: the supernodes (see
    _blocked.pxd)."""
    cdef Py_ssize_t off[5]
    cdef Py_ssize_t s, c0, nc, nr, a, c
    cdef const int64_t *R
    cdef const double *Lc
    if q2 == 0:
        return
    _layout(q2, nsuper, sup, spi, off)
    Lc = work + off[0]
    for s in range(nsuper):
        c0 = sup[s]
        nc = sup[s + 1] - c0
        nr = spi[s + 1] - spi[s] - nc
        R = &srow[spi[s] + nc]
        for c in range(nc):
            for a in range(nr):
                out[R[a] + (c0 + c) * q2] = Lc[a]
            Lc += nr


cdef void schur_solve_fwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- L^-1 P x for x (q x ncol, column-major) in place (blocked_solve_fwd, with the
    sparse Schur complement's part per supernode)."""
    cdef Blocked F1
    cdef Py_ssize_t off[5]
    cdef Py_ssize_t q = F.q, q1 = F.q1, q2 = F.q2, c0, nc, nr, s, j, r, a, col, nb
    cdef const int64_t *R
    cdef double *Lc
    cdef double *X
    cdef double *Y
    cdef double *xc
    cdef int inc, inr, inb, ld2 = <int> q2
    cdef double one = 1.0, zero = 0.0
    cdef char left = b'L', lo = b'L', notr = b'N', nonunit = b'N'
    if F.pinv == NULL or q2 == 0:
        blocked_solve_fwd(F, x, ncol)
        return
    _layout(q2, F.nsuper, F.sup, F.spi, off)
    if ncol >= ROWS_MIN:
        nb = ROWS if ncol > ROWS else ncol
        X = <double *> malloc((F.q + off[4]) * nb * sizeof(double))
        if X != NULL:
            for j in range(0, ncol, ROWS):
                _solve_fwd_rows(F, x + j * q, ncol - j if ncol - j < ROWS else ROWS, X,
                                X + F.q * nb, F.work + off[0])
            free(X)
            return
    F1 = F[0]
    F1.q2 = 0
    blocked_solve_fwd(&F1, x, ncol)
    X = F.work + off[1]
    Y = F.work + off[2]
    for j in range(0, ncol, CHUNK):
        nb = ncol - j if ncol - j < CHUNK else CHUNK
        inb = <int> nb
        for col in range(nb):
            xc = x + (j + col) * q + q1
            for r in range(q2):
                X[F.pinv[r] + col * q2] = xc[r]
        Lc = F.work + off[0]
        for s in range(F.nsuper):
            R = _supernode(F, s, &c0, &nc, &nr)
            inc = <int> nc
            dtrsm(&left, &lo, &notr, &nonunit, &inc, &inb, &one, &F.S[c0 + c0 * q2], &ld2,
                  &X[c0], &ld2)
            if nr == 0:
                continue
            inr = <int> nr
            dgemm(&notr, &notr, &inr, &inb, &inc, &one, Lc, &inr, &X[c0], &ld2, &zero, Y, &inr)
            for col in range(nb):
                for a in range(nr):
                    X[R[a] + col * q2] -= Y[a + col * nr]
            Lc += nr * nc
        for col in range(nb):
            memcpy(x + (j + col) * q + q1, &X[col * q2], q2 * sizeof(double))


cdef struct _Rows:
    Blocked *F
    double *x
    double *XT
    Py_ssize_t ncol, c0, c1


cdef void _rows_first_task(void *arg) noexcept nogil:
    cdef _Rows *t = <_Rows *> arg
    _rows_first(t.F, t.x, t.ncol, t.c0, t.c1, t.XT)


cdef void _rows_first(Blocked *F, double *x, Py_ssize_t ncol, Py_ssize_t c0, Py_ssize_t c1,
                      double *XT) noexcept nogil:
    """The first term's part of _solve_fwd_rows for the columns c0 <= col < c1 of x (q x ncol,
    column-major): XT (w = c1 - c0 wide, row r at XT[r * w:]) gets their rows, the first
    term's in natural order, then the Schur complement's in the factor's order; the first
    term's rows are solved (L11 per level) and written back to x, the Schur complement's
    less each entry of L21 times them (left in XT). Every entry by the same operations
    whatever the range of columns."""
    cdef Py_ssize_t q = F.q, q1 = F.q1, q2 = F.q2, k1 = F.k1, nb1 = q1 // k1, w = c1 - c0
    cdef Py_ssize_t b, j0, r, r0, r1, c, col, idx, p0, nr2
    cdef const double *Lb
    cdef const double *yr
    cdef double *xr
    cdef double *Y = XT + q1 * w
    cdef double v, d
    x = x + c0 * q
    # transposed in tiles of TILE rows (a tile of XT stays in cache while each column fills
    # it): the first term's rows, then the Schur complement's to their places in the order
    for r0 in range(0, q1, TILE):
        r1 = r0 + TILE if r0 + TILE < q1 else q1
        for col in range(w):
            for r in range(r0, r1):
                XT[r * w + col] = x[r + col * q]
    for r0 in range(0, q2, TILE):
        r1 = r0 + TILE if r0 + TILE < q2 else q2
        for col in range(w):
            for r in range(r0, r1):
                Y[F.pinv[r] * w + col] = x[q1 + r + col * q]
    # the first term: L11 per level, then each entry of L21 on its row of the Schur part
    for b in range(nb1):
        j0 = b * k1
        Lb = &F.L11[b * k1 * k1]
        for r in range(k1):
            xr = &XT[(j0 + r) * w]
            for c in range(r):
                v = Lb[r + c * k1]
                yr = &XT[(j0 + c) * w]
                for col in range(w):
                    xr[col] -= v * yr[col]
            d = Lb[r + r * k1]
            for col in range(w):
                xr[col] = xr[col] / d
        nr2 = F.cp[j0 + 1] - F.cp[j0] - k1
        for c in range(k1):
            p0 = F.cp[j0 + c] + k1
            yr = &XT[(j0 + c) * w]
            for idx in range(nr2):
                v = F.l21[p0 + idx]
                xr = &Y[F.pinv[F.ri[p0 + idx] - q1] * w]
                for col in range(w):
                    xr[col] -= v * yr[col]
    for r0 in range(0, q1, TILE):
        r1 = r0 + TILE if r0 + TILE < q1 else q1
        for col in range(w):
            for r in range(r0, r1):
                x[r + col * q] = XT[r * w + col]


cdef void _solve_fwd_rows(Blocked *F, double *x, Py_ssize_t ncol, double *XT, double *W,
                          double *Lc) noexcept nogil:
    """x <- L^-1 P x for x (q x ncol, column-major) in place, on its rows: XT (ncol x q,
    column-major: row r of x at XT[r * ncol:]) holds the rows of the first term in natural
    order, then the Schur complement's in the factor's order; W: ncol x (most rows below a
    supernode) products; Lc: the compact blocks. Per entry the arithmetic of
    blocked_solve_fwd on the first term (_rows_first; with the second thread, F.worker, each
    thread takes half the columns in scratch H of their own, their Schur rows then copied
    to XT's); BLAS's on the Schur complement."""
    cdef Py_ssize_t q = F.q, q1 = F.q1, q2 = F.q2, h = ncol // 2
    cdef Py_ssize_t r, s, col, a, c0, nc, nr
    cdef const int64_t *R
    cdef const double *yr
    cdef double *xr
    cdef double *Y = XT + q1 * ncol
    cdef double *H = NULL
    cdef int im = <int> ncol, inc, inr, ld2 = <int> q2
    cdef double one = 1.0, zero = 0.0
    cdef char right = b'R', lo = b'L', tr = b'T', notr = b'N', nonunit = b'N'
    cdef _Rows half
    if F.worker != NULL:
        H = <double *> malloc(q * ncol * sizeof(double))
    if H != NULL:
        half.F, half.x, half.XT, half.ncol, half.c0, half.c1 = F, x, H + q * h, ncol, h, ncol
        worker_post(F.worker, _rows_first_task, &half)
        _rows_first(F, x, ncol, 0, h, H)
        worker_wait(F.worker)
        for r in range(q2):
            xr = &Y[r * ncol]
            yr = &H[(q1 + r) * h]
            for col in range(h):
                xr[col] = yr[col]
            yr = &H[q * h + (q1 + r) * (ncol - h)]
            for col in range(ncol - h):
                xr[h + col] = yr[col]
        free(H)
    else:
        _rows_first(F, x, ncol, 0, ncol, XT)
    # the Schur complement per supernode: Y_s <- Y_s L_D^-T, then the rows below less
    # the compact block times Y_s
    for s in range(F.nsuper):
        R = _supernode(F, s, &c0, &nc, &nr)
        inc = <int> nc
        dtrsm(&right, &lo, &tr, &nonunit, &im, &inc, &one, &F.S[c0 + c0 * q2], &ld2,
              &Y[c0 * ncol], &im)
        if nr == 0:
            continue
        inr = <int> nr
        dgemm(&notr, &tr, &im, &inr, &inc, &one, &Y[c0 * ncol], &im, Lc, &inr, &zero, W, &im)
        for a in range(nr):
            xr = &Y[R[a] * ncol]
            yr = &W[a * ncol]
            for col in range(ncol):
                xr[col] -= yr[col]
        Lc += nr * nc
    for r in range(0, q2, TILE):
        for col in range(ncol):
            for a in range(r, r + TILE if r + TILE < q2 else q2):
                x[q1 + a + col * q] = Y[a * ncol + col]


cdef void schur_solve_bwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- P' L^-T x for x (q x ncol, column-major) in place (blocked_solve_bwd, with the
    sparse Schur complement's part per supernode)."""
    cdef Blocked F1
    cdef Py_ssize_t off[5]
    cdef Py_ssize_t q = F.q, q1 = F.q1, q2 = F.q2, c0, nc, nr, s, j, r, a, col, nb
    cdef const int64_t *R
    cdef double *Lc
    cdef double *X
    cdef double *Y
    cdef double *xc
    cdef int inc, inr, inb, ld2 = <int> q2
    cdef double one = 1.0, minus_one = -1.0
    cdef char left = b'L', lo = b'L', tr = b'T', notr = b'N', nonunit = b'N'
    if F.pinv == NULL or q2 == 0:
        blocked_solve_bwd(F, x, ncol)
        return
    _layout(q2, F.nsuper, F.sup, F.spi, off)
    X = F.work + off[1]
    Y = F.work + off[2]
    for j in range(0, ncol, CHUNK):
        nb = ncol - j if ncol - j < CHUNK else CHUNK
        inb = <int> nb
        for col in range(nb):
            memcpy(&X[col * q2], x + (j + col) * q + q1, q2 * sizeof(double))
        Lc = F.work + off[1]
        for s in range(F.nsuper - 1, -1, -1):
            R = _supernode(F, s, &c0, &nc, &nr)
            inc = <int> nc
            if nr > 0:
                inr = <int> nr
                Lc -= nr * nc
                for col in range(nb):
                    for a in range(nr):
                        Y[a + col * nr] = X[R[a] + col * q2]
                dgemm(&tr, &notr, &inc, &inb, &inr, &minus_one, Lc, &inr, Y, &inr, &one,
                      &X[c0], &ld2)
            dtrsm(&left, &lo, &tr, &nonunit, &inc, &inb, &one, &F.S[c0 + c0 * q2], &ld2,
                  &X[c0], &ld2)
        for col in range(nb):
            xc = x + (j + col) * q + q1
            for r in range(q2):
                xc[r] = X[F.pinv[r] + col * q2]
    F1 = F[0]
    F1.q2 = 0
    blocked_solve_bwd(&F1, x, ncol)
