# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The blocked factorization of A + I = Lambda' Z'WZ Lambda + I for the PLS core (_pls.pyx).

The first random-effects term's diagonal block is itself block diagonal (one k1 x k1
block per level, as each observation has one level), so with
A + I = [[A11, A21'], [A21, A22]]:

* L11: a Cholesky factor per level (k1 x k1);
* L21 = A21 L11^-T keeps the sparse pattern of Z_2'Z_1 (the rows >= q1 of the first
  q1 columns of Z'Z's pattern, stored in place of those entries);
* S = A22 + I - L21 L21' (q2 x q2) is formed in a dense buffer (a block of columns at
  a time, which stays in cache while every level adds to it) and factored: by
  LAPACK as one dense block, or, when S is sparse enough (InstEval: 20% dense), in a
  fill-reducing order P2 from CHOLMOD's analysis with a right-looking supernodal
  Cholesky on that buffer (LAPACK/BLAS per supernode, SciPy's OpenBLAS; InstEval: a
  fifth of the dense flops). The set-up of both is _schur.pyx's.

The factor is L = [[L11, 0], [P2 L21, L_S]] with P = diag(I, P2) (P2 = I when dense).
Everything per evaluation runs without the GIL on the core's arrays, described by a
:c:type:`Blocked` record.
"""
import numpy as np
from libc.math cimport log, sqrt
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dgemm, dsyrk, dtrsm
from scipy.linalg.cython_lapack cimport dpotrf
from pymer._core._eval_worker cimport worker_post, worker_wait
from pymer._core._zwz cimport sorted_position

cdef extern from *:
    void __builtin_prefetch(const void *addr) noexcept nogil


def blocked_structure(const int64_t[::1] colptr, const int64_t[::1] rowind,
                      const int[::1] col_term, Py_ssize_t k1):
    """(ok, q1, k1, flops of the L21 L21' update) for the first term (k1 columns per level)
    as the blocked part.

    ok when the first term's columns come first and the rows < q1 of every column j < q1
    are exactly the k1 rows of j's own level block (rows are sorted, so they are the
    column's first k1 entries)."""
    cdef Py_ssize_t q = col_term.shape[0], q1 = 0, j, idx, start, cnt, b, nr2
    cdef int64_t r
    cdef double flops = 0.0
    if q == 0:
        return False, 0, 0, 0.0
    while q1 < q and col_term[q1] == 0:
        q1 += 1
    for j in range(q1, q):
        if col_term[j] == 0:
            return False, 0, 0, 0.0
    if q1 == 0 or k1 <= 0 or q1 % k1 != 0:
        return False, 0, 0, 0.0
    for j in range(q1):
        start = (j // k1) * k1
        cnt = 0
        for idx in range(colptr[j], colptr[j + 1]):
            r = rowind[idx]
            if r >= q1:
                break
            if r < start or r >= start + k1:
                return False, 0, 0, 0.0
            cnt += 1
        if cnt != k1:
            return False, 0, 0, 0.0
    for b in range(q1 // k1):
        nr2 = colptr[b * k1 + 1] - colptr[b * k1] - k1
        flops += nr2 * (nr2 + 1) / 2.0 * k1
    return True, q1, k1, flops


def second_thread_scratch(const int64_t[::1] lstart, const int64_t[::1] erow,
                          const int64_t[::1] a22ptr, const int64_t[::1] spi,
                          const int64_t[::1] sup, Py_ssize_t q2, bint sparse, Py_ssize_t width):
    """The second thread's share (see Blocked in _blocked.pxd): (split, its cursors, its
    update panel). Split: the column from which it assembles S (see _assemble), with 40% of
    the assembly's work before it (per column, each level's entries subtracted from it: the
    rows at and after it; A22's entries, the zeroed rows, every level's visit of each block
    of width columns): the first columns (in a fill-reducing order, the sparse ones) take
    half as long again per entry, so 40% balances the threads' times (InstEval: 0.5 left
    the evaluating thread 2.5 times the helper's share, 0.38 about 1.2 times)."""
    cdef Py_ssize_t b, e, j, s = 0, zend, nb1 = lstart.shape[0] - 1
    cdef double total = 0.0, acc = 0.0
    cdef double[::1] work = np.zeros(max(q2, 1))
    with nogil:
        for b in range(nb1):
            for e in range(lstart[b], lstart[b + 1]):
                work[erow[e]] += lstart[b + 1] - e
        for j in range(q2):
            zend = q2
            if sparse:
                while sup[s + 1] <= j:
                    s += 1
                zend = sup[s + 1]
            work[j] += 2.0 * (a22ptr[j + 1] - a22ptr[j]) + 0.1 * (zend - j) + 4.0 * nb1 / width
            total += work[j]
        j = 0
        while j < q2 and acc + work[j] <= 0.4 * total:
            acc += work[j]
            j += 1
    nr = np.diff(spi) - np.diff(sup) if sparse else np.ones(1, dtype=np.int64)
    maxnr = max(1, int(nr.max()))
    return int(j), np.zeros(max(1, nb1), dtype=np.int64), np.zeros(maxnr * min(maxnr, SCHUR_PANEL))


cdef int blocked_factor(Blocked *F, const double *av, double *logdet) noexcept nogil:
    """Blocked: L11 per level of the first term, L21 = A21 L11^-T on the pattern,
    S = A22 + I - L21 L21' and its Cholesky (dense or supernodal), from the values av of
    A on the pattern; logdet = log |L|^2. Returns 0, or 1 when A + I is not positive
    definite."""
    cdef Py_ssize_t k1 = F.k1, q1 = F.q1, q2 = F.q2, b, j0, c, s, r, idx, nr2
    cdef Py_ssize_t j, nb1 = q1 // k1 if k1 > 0 else 0
    cdef double acc = 0.0, d, v
    cdef double *Lb
    cdef double *l21 = F.l21
    cdef const int64_t *cp = F.cp
    cdef const int64_t *ri = F.ri
    cdef int info = 0, n2 = <int> q2
    cdef char lo = b'L'
    for b in range(nb1):
        j0 = b * k1
        Lb = &F.L11[b * k1 * k1]
        for c in range(k1):
            for r in range(k1):
                Lb[r + c * k1] = av[cp[j0 + c] + r]
            Lb[c + c * k1] += 1.0
        # Cholesky of the k1 x k1 block, lower triangle, in place
        for c in range(k1):
            d = Lb[c + c * k1]
            for s in range(c):
                d -= Lb[c + s * k1] * Lb[c + s * k1]
            if not d > 0.0:
                return 1
            d = sqrt(d)
            Lb[c + c * k1] = d
            acc += log(d)
            for r in range(c + 1, k1):
                v = Lb[r + c * k1]
                for s in range(c):
                    v -= Lb[r + s * k1] * Lb[c + s * k1]
                Lb[r + c * k1] = v / d
        # rows of A21 for this level: L_b x = a for each row (forward substitution)
        nr2 = cp[j0 + 1] - cp[j0] - k1
        for idx in range(nr2):
            for c in range(k1):
                v = av[cp[j0 + c] + k1 + idx]
                for s in range(c):
                    v -= Lb[c + s * k1] * l21[cp[j0 + s] + k1 + idx]
                l21[cp[j0 + c] + k1 + idx] = v / Lb[c + c * k1]
    if q2 > 0:
        _assemble(F, av)
        if F.pinv != NULL:
            if _factor_supernodal(F, &acc) != 0:
                # entries below the diagonal blocks left unzeroed (see _assemble): all of them
                for j in range(q2):
                    memset(&F.S[j * (q2 + 1)], 0, (q2 - j) * sizeof(double))
                return 1
        else:
            dpotrf(&lo, &n2, F.S, &n2, &info)
            if info != 0:
                return 1
            for j in range(q2):
                acc += log(F.S[j * (q2 + 1)])
    logdet[0] = 2.0 * acc
    return 0

cdef struct _Cols:
    Blocked *F
    const double *av
    Py_ssize_t jlo, jhi


cdef void _assemble(Blocked *F, const double *av) noexcept nogil:
    """S = A22 + I - L21 L21' into the lower triangle of the dense buffer, in its order
    (fill-reducing or natural), a block of F.width columns at a time: the block (a few
    hundred KB) stays in cache while every level subtracts its outer product's entries
    in those columns (each level's rows are sorted in the buffer's order, so a cursor per
    level walks its columns once, and the rows at and after a column are its lower part).
    Per entry the same sums in the same order as scattering whole outer products.
    With the second thread (F.worker), it assembles the columns from F.split on at the
    same time (each column's entries by the same operations in the same order).

    Each column's lower part is zeroed first: all of it when S is dense; when sparse, only
    its supernode's diagonal block, as the supernodal factorization zeroes the rows below
    it when it takes them to their compact block (and, failing, the whole lower triangle),
    and nothing else is ever written."""
    cdef Py_ssize_t q1 = F.q1, k1 = F.k1, nb1 = q1 // k1, E = F.E, b, p0, nr2, i, c, s0
    cdef const int64_t *lstart = F.lstart
    cdef const double *l21 = F.l21
    cdef double *G = F.G
    cdef _Cols half
    # each level's values of L21 in the buffer's row order, column c at G[c * E:]
    for b in range(nb1):
        p0 = F.cp[b * k1] + k1
        nr2 = F.cp[b * k1 + 1] - p0
        s0 = lstart[b]
        F.cursor[b] = s0
        for c in range(k1):
            for i in range(nr2):
                G[c * E + s0 + i] = l21[p0 + c * (nr2 + k1) + F.esrc[s0 + i]]
    if F.worker != NULL and 0 < F.split < F.q2:
        half.F, half.av, half.jlo, half.jhi = F, av, F.split, F.q2
        worker_post(F.worker, _assemble_task, &half)
        _assemble_cols(F, av, 0, F.split, F.cursor)
        worker_wait(F.worker)
    else:
        _assemble_cols(F, av, 0, F.q2, F.cursor)


cdef void _assemble_task(void *arg) noexcept nogil:
    """The second thread's columns: its cursors at each level's first entry in them."""
    cdef _Cols *t = <_Cols *> arg
    cdef Blocked *F = t.F
    cdef Py_ssize_t b, nb1 = F.q1 // F.k1
    for b in range(nb1):
        F.cursor2[b] = sorted_position(F.erow, F.lstart[b], F.lstart[b + 1], t.jlo)
    _assemble_cols(F, t.av, t.jlo, t.jhi, F.cursor2)


cdef void _assemble_cols(Blocked *F, const double *av, Py_ssize_t jlo, Py_ssize_t jhi,
                         int64_t *cur) noexcept nogil:
    """_assemble's columns jlo <= j < jhi, each level's cursor (cur) at its first entry
    in them."""
    cdef Py_ssize_t q1 = F.q1, q2 = F.q2, k1 = F.k1, nb1 = q1 // k1, E = F.E
    cdef Py_ssize_t j0, j1, j, b, c, t, e, f, end, s, zend
    cdef const int64_t *erow = F.erow
    cdef const int64_t *lstart = F.lstart
    cdef const double *G = F.G
    cdef double *col
    cdef double v, v1
    j0 = jlo
    s = 0
    while j0 < jhi:
        j1 = j0 + F.width if j0 + F.width < jhi else jhi
        # the block's lower part: A22 + I
        for j in range(j0, j1):
            col = &F.S[j * q2]
            zend = q2
            if F.pinv != NULL:
                while F.sup[s + 1] <= j:
                    s += 1
                zend = F.sup[s + 1]
            memset(&col[j], 0, (zend - j) * sizeof(double))
            for t in range(F.a22ptr[j], F.a22ptr[j + 1]):
                col[F.a22row[t]] += av[F.a22pos[t]]
            col[j] += 1.0
        # minus L21 L21' on the block's columns
        for b in range(nb1):
            e = cur[b]
            end = lstart[b + 1]
            if b + 2 < nb1:
                # a later level's next entries come from memory: ask for them now
                f = cur[b + 2]
                __builtin_prefetch(&erow[f])
                __builtin_prefetch(&G[f])
                if k1 > 1:
                    __builtin_prefetch(&G[E + f])
            if k1 <= 2:
                # four (then two) of the level's columns at a time: each row's values load once
                while e + 3 < end and erow[e + 3] < j1:
                    _sub4(F.S, q2, erow, G, E if k1 == 2 else 0, k1, e, end)
                    e += 4
                if e + 1 < end and erow[e + 1] < j1:
                    _sub2(F.S, q2, erow, G, E if k1 == 2 else 0, k1, e, end)
                    e += 2
            while e < end and erow[e] < j1:
                col = &F.S[erow[e] * q2]
                if k1 == 1:
                    v = G[e]
                    for f in range(e, end):
                        col[erow[f]] -= G[f] * v
                elif k1 == 2:
                    v = G[e]
                    v1 = G[E + e]
                    for f in range(e, end):
                        col[erow[f]] -= G[f] * v + G[E + f] * v1
                else:
                    for f in range(e, end):
                        v = 0.0
                        for c in range(k1):
                            v += G[c * E + f] * G[c * E + e]
                        col[erow[f]] -= v
                e += 1
            cur[b] = e
        j0 = j1


cdef inline void _sub4(double *S, Py_ssize_t q2, const int64_t *erow, const double *G,
                       Py_ssize_t E, Py_ssize_t k1, Py_ssize_t e, Py_ssize_t end) noexcept nogil:
    """The columns erow[e..e+3] of S less a level's outer product (k1 = 1 or 2; rows
    e..end - 1 of its L21 values G, G[E:] the second column): per entry the arithmetic of
    _assemble's loop, four columns per pass over the rows."""
    cdef double *c0 = &S[erow[e] * q2]
    cdef double *c1 = &S[erow[e + 1] * q2]
    cdef double *c2 = &S[erow[e + 2] * q2]
    cdef double *c3 = &S[erow[e + 3] * q2]
    cdef double a0 = G[e], a1 = G[e + 1], a2 = G[e + 2], a3 = G[e + 3]
    cdef double b0 = 0.0, b1 = 0.0, b2 = 0.0, b3 = 0.0, g, h
    cdef Py_ssize_t f
    cdef int64_t r
    if k1 == 1:
        c0[erow[e]] -= G[e] * a0
        c0[erow[e + 1]] -= G[e + 1] * a0
        c1[erow[e + 1]] -= G[e + 1] * a1
        c0[erow[e + 2]] -= G[e + 2] * a0
        c1[erow[e + 2]] -= G[e + 2] * a1
        c2[erow[e + 2]] -= G[e + 2] * a2
        for f in range(e + 3, end):
            g = G[f]
            r = erow[f]
            c0[r] -= g * a0
            c1[r] -= g * a1
            c2[r] -= g * a2
            c3[r] -= g * a3
        return
    b0, b1, b2, b3 = G[E + e], G[E + e + 1], G[E + e + 2], G[E + e + 3]
    for f in range(e, e + 3):
        g = G[f]
        h = G[E + f]
        r = erow[f]
        c0[r] -= g * a0 + h * b0
        if f > e:
            c1[r] -= g * a1 + h * b1
        if f > e + 1:
            c2[r] -= g * a2 + h * b2
    for f in range(e + 3, end):
        g = G[f]
        h = G[E + f]
        r = erow[f]
        c0[r] -= g * a0 + h * b0
        c1[r] -= g * a1 + h * b1
        c2[r] -= g * a2 + h * b2
        c3[r] -= g * a3 + h * b3


cdef inline void _sub2(double *S, Py_ssize_t q2, const int64_t *erow, const double *G,
                       Py_ssize_t E, Py_ssize_t k1, Py_ssize_t e, Py_ssize_t end) noexcept nogil:
    """_sub4 on the two columns erow[e], erow[e + 1]."""
    cdef double *c0 = &S[erow[e] * q2]
    cdef double *c1 = &S[erow[e + 1] * q2]
    cdef double a0 = G[e], a1 = G[e + 1], b0 = 0.0, b1 = 0.0, g, h
    cdef Py_ssize_t f
    cdef int64_t r
    if k1 == 1:
        c0[erow[e]] -= G[e] * a0
        for f in range(e + 1, end):
            g = G[f]
            r = erow[f]
            c0[r] -= g * a0
            c1[r] -= g * a1
        return
    b0, b1 = G[E + e], G[E + e + 1]
    c0[erow[e]] -= G[e] * a0 + G[E + e] * b0
    for f in range(e + 1, end):
        g = G[f]
        h = G[E + f]
        r = erow[f]
        c0[r] -= g * a0 + h * b0
        c1[r] -= g * a1 + h * b1


cdef int _factor_supernodal(Blocked *F, double *acc) noexcept nogil:
    """Right-looking supernodal Cholesky of S (in the fill-reducing order, lower triangle of
    the dense buffer): per supernode LAPACK on the diagonal block (in place), its rows below
    gathered into their compact block F.Lc (where the solves read them: they are not
    written back, their places in the buffer are zeroed for the next assembly) and solved
    by BLAS, then the update of the later columns they reach, SCHUR_PANEL columns at a
    time (_update). Entries off the factor's pattern are never touched and stay zero.
    acc += log |L_S|.

    (Tried: the root supernode taking every update last, a cache-sized panel of its
    columns at a time from each earlier supernode: no faster on InstEval, as BLAS packs
    each supernode's rows again for every panel.)"""
    cdef Py_ssize_t q2 = F.q2, j, a, c, s, c0, nc, nr, b0, maxnr = 0
    cdef const int64_t *R
    cdef double *Sp = F.S
    cdef double *Pn = F.Lc
    cdef double *W = F.work
    cdef double *D
    cdef int info = 0, inc, inr, ldS = <int> q2
    cdef double one = 1.0
    cdef char lo = b'L', right = b'R', tr = b'T', nonunit = b'N'
    cdef _Panels half
    for s in range(F.nsuper):
        nr = F.spi[s + 1] - F.spi[s] - (F.sup[s + 1] - F.sup[s])
        if nr > maxnr:
            maxnr = nr
    memset(W, 0, maxnr * (SCHUR_PANEL if maxnr > SCHUR_PANEL else maxnr) * sizeof(double))
    if F.worker != NULL:
        memset(F.W2, 0, maxnr * (SCHUR_PANEL if maxnr > SCHUR_PANEL else maxnr) * sizeof(double))
    for s in range(F.nsuper):
        c0 = F.sup[s]
        nc = F.sup[s + 1] - c0
        R = &F.srow[F.spi[s] + nc]
        nr = F.spi[s + 1] - F.spi[s] - nc
        D = &Sp[c0 + c0 * q2]
        inc = <int> nc
        dpotrf(&lo, &inc, D, &ldS, &info)
        if info != 0:
            return 1
        for j in range(nc):
            acc[0] += log(D[j * (q2 + 1)])
        if nr == 0:
            continue
        inr = <int> nr
        for c in range(nc):
            for a in range(nr):
                Pn[a + c * nr] = Sp[R[a] + (c0 + c) * q2]
                Sp[R[a] + (c0 + c) * q2] = 0.0      # zero for the next assembly
        dtrsm(&right, &lo, &tr, &nonunit, &inr, &inc, &one, D, &ldS, Pn, &inr)
        if F.worker != NULL and nr > SCHUR_PANEL and <double> nr * nr * (nc + 16) >= PANEL_WORK:
            # every other panel on the second thread (disjoint columns of S)
            half.Sp, half.q2, half.R, half.Pn, half.nr, half.nc = Sp, q2, R, Pn, nr, nc
            half.W, half.first = F.W2, 1
            worker_post(F.worker, _panels_task, &half)
            _panels(Sp, q2, R, Pn, nr, nc, 0, 2, W)
            worker_wait(F.worker)
        else:
            _panels(Sp, q2, R, Pn, nr, nc, 0, 1, W)
        Pn += nr * nc
    return 0


cdef struct _Panels:
    double *Sp
    Py_ssize_t q2, nr, nc, first
    const int64_t *R
    const double *Pn
    double *W


cdef void _panels_task(void *arg) noexcept nogil:
    cdef _Panels *t = <_Panels *> arg
    _panels(t.Sp, t.q2, t.R, t.Pn, t.nr, t.nc, t.first, 2, t.W)


cdef void _panels(double *Sp, Py_ssize_t q2, const int64_t *R, const double *Pn,
                  Py_ssize_t nr, Py_ssize_t nc, Py_ssize_t first, Py_ssize_t step,
                  double *W) noexcept nogil:
    """One supernode's update (_update), panels first, first + step, ... of SCHUR_PANEL
    columns."""
    cdef Py_ssize_t b0 = first * SCHUR_PANEL
    while b0 < nr:
        _update(Sp, q2, R, Pn, nr, nc, b0, b0 + SCHUR_PANEL if b0 + SCHUR_PANEL < nr else nr, W)
        b0 += step * SCHUR_PANEL


cdef inline void _update(double *Sp, Py_ssize_t q2, const int64_t *R, const double *Pn,
                         Py_ssize_t nr, Py_ssize_t nc, Py_ssize_t b0, Py_ssize_t b1,
                         double *W) noexcept nogil:
    """S[R[a], R[b]] -= (Pn Pn')[a, b] for the columns b0 <= b < b1 and rows a >= b of one
    supernode's update (Pn: its nr x nc solved rows below the diagonal block): dsyrk on the
    panel's diagonal block, dgemm below it, into W (zero on entry and again on exit: each
    entry is zeroed as it is scattered; b1 - b0 <= SCHUR_PANEL)."""
    cdef Py_ssize_t a, b, rb, nb = b1 - b0, m = nr - b0
    cdef double *w
    cdef int inc = <int> nc, inr = <int> nr, inb = <int> nb, ldw = <int> m, im
    cdef double one = 1.0
    cdef char lo = b'L', tr = b'T', notr = b'N'
    dsyrk(&lo, &notr, &inb, &inc, &one, &Pn[b0], &inr, &one, W, &ldw)
    if m > nb:
        im = <int> (m - nb)
        dgemm(&notr, &tr, &im, &inb, &inc, &one, &Pn[b0 + nb], &inr, &Pn[b0], &inr,
              &one, &W[nb], &ldw)
    for b in range(nb):
        rb = R[b0 + b] * q2
        w = &W[b * m]
        for a in range(b, m):
            Sp[R[b0 + a] + rb] -= w[a]
            w[a] = 0.0


cdef void blocked_solve_fwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- L^-1 P x for x (q x ncol, column-major) in place."""
    cdef Py_ssize_t q = F.q, k1 = F.k1, q1 = F.q1, col, b, j0, r, c, p0, idx, nr2
    cdef Py_ssize_t nb1 = q1 // k1 if k1 > 0 else 0
    cdef double *xc
    cdef double *Lb
    cdef double acc
    cdef int n2 = <int> F.q2, nc = <int> ncol, ldx = <int> q
    cdef double one = 1.0
    cdef char side = b'L', lo = b'L', notr = b'N', nonunit = b'N'
    if q == 0 or ncol == 0:
        return
    for col in range(ncol):
        xc = x + col * q
        for b in range(nb1):
            j0 = b * k1
            Lb = &F.L11[b * k1 * k1]
            for r in range(k1):
                acc = xc[j0 + r]
                for c in range(r):
                    acc -= Lb[r + c * k1] * xc[j0 + c]
                xc[j0 + r] = acc / Lb[r + r * k1]
            nr2 = F.cp[j0 + 1] - F.cp[j0] - k1
            for c in range(k1):
                acc = xc[j0 + c]
                if acc != 0.0:
                    p0 = F.cp[j0 + c] + k1
                    for idx in range(nr2):
                        xc[F.ri[p0 + idx]] -= F.l21[p0 + idx] * acc
    if n2 > 0:
        if F.pinv != NULL:
            for col in range(ncol):
                xc = x + col * q + q1
                for r in range(n2):
                    F.work[F.pinv[r]] = xc[r]
                memcpy(xc, F.work, n2 * sizeof(double))
        dtrsm(&side, &lo, &notr, &nonunit, &n2, &nc, &one, F.S, &n2, x + q1, &ldx)


cdef void blocked_solve_bwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- P' L^-T x for x (q x ncol, column-major) in place."""
    cdef Py_ssize_t q = F.q, k1 = F.k1, q1 = F.q1, col, b, j0, r, c, p0, idx, nr2
    cdef Py_ssize_t nb1 = q1 // k1 if k1 > 0 else 0
    cdef double *xc
    cdef double *Lb
    cdef double acc
    cdef int n2 = <int> F.q2, nc = <int> ncol, ldx = <int> q
    cdef double one = 1.0
    cdef char side = b'L', lo = b'L', tr = b'T', nonunit = b'N'
    if q == 0 or ncol == 0:
        return
    if n2 > 0:
        dtrsm(&side, &lo, &tr, &nonunit, &n2, &nc, &one, F.S, &n2, x + q1, &ldx)
        if F.pinv != NULL:
            for col in range(ncol):
                xc = x + col * q + q1
                for r in range(n2):
                    F.work[r] = xc[F.pinv[r]]
                memcpy(xc, F.work, n2 * sizeof(double))
    for col in range(ncol):
        xc = x + col * q
        for b in range(nb1):
            j0 = b * k1
            Lb = &F.L11[b * k1 * k1]
            nr2 = F.cp[j0 + 1] - F.cp[j0] - k1
            for c in range(k1):
                p0 = F.cp[j0 + c] + k1
                acc = xc[j0 + c]
                for idx in range(nr2):
                    acc -= F.l21[p0 + idx] * xc[F.ri[p0 + idx]]
                xc[j0 + c] = acc
            for r in range(k1 - 1, -1, -1):
                acc = xc[j0 + r]
                for c in range(r + 1, k1):
                    acc -= Lb[c + r * k1] * xc[j0 + c]
                xc[j0 + r] = acc / Lb[r + r * k1]

