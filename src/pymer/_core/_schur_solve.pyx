# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Triangular solves with the blocked factor when its Schur complement is sparse
(supernodal, in CHOLMOD's fill-reducing order; see _blocked.pyx and _schur.pyx).

_blocked.pyx factors S = A22 + I - L21 L21' in the lower triangle of a dense q2 x q2
buffer, supernode by supernode. A dense triangular solve on that buffer costs q2^2 per
right-hand side although the factor has a fraction of the entries (InstEval: 1128^2
against ~320k). Here, after each factorization, every supernode's rows below its
diagonal block are gathered into one compact column-major block (nr x nc), and the
solves run per supernode: LAPACK's triangular solve on the diagonal block and one
matrix product with the compact block, on the right-hand sides permuted into the
factor's order, CHUNK columns at a time. The diagonal blocks stay in the dense buffer
(_selinv.pyx reads the whole factor there).

Scratch in the blocked record's work array, after the region _blocked.pyx uses
(max(q2, nr * nc + nr * nr)): the compact blocks, the permuted right-hand sides
(q2 x CHUNK) and the products (max nr x CHUNK); sparse_work_size gives the total.
"""
import numpy as np
from libc.string cimport memcpy
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dgemm, dtrsm
from pymer._core._blocked cimport Blocked, blocked_factor, blocked_solve_fwd, blocked_solve_bwd

DEF CHUNK = 32


cdef inline void _layout(Py_ssize_t q2, Py_ssize_t nsuper, const int64_t *sup,
                         const int64_t *spi, Py_ssize_t *off) noexcept nogil:
    """off[0]: the compact blocks' start; off[1]: the right-hand sides'; off[2]: the
    products'; off[3]: the total size (all in doubles)."""
    cdef Py_ssize_t s, nc, nr, base = q2, nbelow = 0, maxnr = 1
    for s in range(nsuper):
        nc = sup[s + 1] - sup[s]
        nr = spi[s + 1] - spi[s] - nc
        if nr * nc + nr * nr > base:
            base = nr * nc + nr * nr
        nbelow += nr * nc
        if nr > maxnr:
            maxnr = nr
    off[0] = base
    off[1] = base + nbelow
    off[2] = off[1] + q2 * CHUNK
    off[3] = off[2] + maxnr * CHUNK


def sparse_work_size(const int64_t[::1] sup, const int64_t[::1] spi, Py_ssize_t q2):
    """Doubles of scratch the sparse Schur complement needs (factorization and solves)."""
    cdef Py_ssize_t off[4]
    _layout(q2, sup.shape[0] - 1, &sup[0], &spi[0], off)
    return int(off[3])


cdef int schur_factor(Blocked *F, const double *av, double *logdet) noexcept nogil:
    """The blocked factorization (_blocked.blocked_factor); when the Schur complement is
    sparse, then each supernode's rows below its diagonal block into the compact blocks."""
    cdef Py_ssize_t off[4]
    cdef Py_ssize_t q2 = F.q2, s, c0, nc, nr, a, c
    cdef const int64_t *R
    cdef const double *col
    cdef double *Lc
    cdef int st = blocked_factor(F, av, logdet)
    if st != 0 or F.pinv == NULL or q2 == 0:
        return st
    _layout(q2, F.nsuper, F.sup, F.spi, off)
    Lc = F.work + off[0]
    for s in range(F.nsuper):
        c0 = F.sup[s]
        nc = F.sup[s + 1] - c0
        R = &F.srow[F.spi[s] + nc]
        nr = F.spi[s + 1] - F.spi[s] - nc
        for c in range(nc):
            col = &F.S[(c0 + c) * q2]
            for a in range(nr):
                Lc[a] = col[R[a]]
            Lc += nr
    return 0


cdef void schur_solve_fwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- L^-1 P x for x (q x ncol, column-major) in place (blocked_solve_fwd, with the
    sparse Schur complement's part per supernode)."""
    cdef Blocked F1
    cdef Py_ssize_t off[4]
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
    F1 = F[0]
    F1.q2 = 0
    blocked_solve_fwd(&F1, x, ncol)
    _layout(q2, F.nsuper, F.sup, F.spi, off)
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
            c0 = F.sup[s]
            nc = F.sup[s + 1] - c0
            R = &F.srow[F.spi[s] + nc]
            nr = F.spi[s + 1] - F.spi[s] - nc
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


cdef void schur_solve_bwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- P' L^-T x for x (q x ncol, column-major) in place (blocked_solve_bwd, with the
    sparse Schur complement's part per supernode)."""
    cdef Blocked F1
    cdef Py_ssize_t off[4]
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
            c0 = F.sup[s]
            nc = F.sup[s + 1] - c0
            R = &F.srow[F.spi[s] + nc]
            nr = F.spi[s + 1] - F.spi[s] - nc
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
