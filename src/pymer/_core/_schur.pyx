# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The set-up (once per model) of the blocked factorization's Schur complement
S = A22 + I - L21 L21' (see _blocked.pyx, which runs it per evaluation).

* Its pattern (A22's and, per level of the first term, every pair of rows the level
  couples) and CHOLMOD's analysis of it: a fill-reducing order P2 and the supernodes
  of the factor of P2 S P2', for the supernodal factorization when that needs at most
  half the dense flops.
* The assembly's index lists: each level's rows sorted in the buffer's order (P2 or
  natural), and A22's entries by column.
"""
import numpy as np
from libc.stdint cimport int64_t
from libc.stdlib cimport qsort
from pymer._core.cholmod cimport *
from pymer._core._schur_solve import sparse_work_size


cdef extern from "cholmod.h" nogil:
    ctypedef struct _symbolic "cholmod_factor":
        size_t n
        void *Perm
        size_t nsuper
        void *super "super"
        void *pi
        void *s
        int is_super


cdef int _cmp_int64(const void *a, const void *b) noexcept nogil:
    cdef int64_t x = (<const int64_t *> a)[0], y = (<const int64_t *> b)[0]
    return (x > y) - (x < y)


def schur_pattern(const int64_t[::1] colptr, const int64_t[::1] rowind, Py_ssize_t q1,
                  Py_ssize_t k1):
    """The pattern of the Schur complement S = A22 + I - L21 L21' (q2 x q2, upper triangle,
    CSC, rows sorted): A22's entries and, per level of the first term, every pair of the
    rows it couples. Per column j a marker pass over the levels coupling row j (the rows
    < q1 of column q1 + j) and A22's column, then the column's rows sorted."""
    cdef Py_ssize_t q = colptr.shape[0] - 1, q2 = q - q1, j, t, u, i, n = 0, pass_
    cdef int64_t r, lev
    cdef int64_t[::1] mark = np.full(max(q2, 1), -1, dtype=np.int64)
    cdef int64_t[::1] cp = np.zeros(q2 + 1, dtype=np.int64)
    cdef int64_t[::1] ri = np.zeros(1, dtype=np.int64)
    with nogil:
        for pass_ in range(2):
            n = 0
            for j in range(q2):
                mark[j] = j + pass_ * q2
                if pass_:
                    ri[n] = j
                n += 1
                for t in range(colptr[q1 + j], colptr[q1 + j + 1]):
                    r = rowind[t]
                    if r < q1:
                        if r % k1 != 0:
                            continue
                        # level r / k1: its rows >= q1 follow its own k1 rows in column r
                        lev = r
                        for u in range(colptr[lev] + k1, colptr[lev + 1]):
                            i = rowind[u] - q1
                            if i > j:
                                break
                            if mark[i] != j + pass_ * q2:
                                mark[i] = j + pass_ * q2
                                if pass_:
                                    ri[n] = i
                                n += 1
                    elif r - q1 <= j:
                        i = r - q1
                        if mark[i] != j + pass_ * q2:
                            mark[i] = j + pass_ * q2
                            if pass_:
                                ri[n] = i
                            n += 1
                if pass_:
                    qsort(&ri[cp[j]], n - cp[j], sizeof(int64_t), _cmp_int64)
                else:
                    cp[j + 1] = n
            if not pass_:
                with gil:
                    ri = np.zeros(max(n, 1), dtype=np.int64)
    return np.asarray(cp), np.asarray(ri)[:n].copy()


def analyze_schur(const int64_t[::1] colptr, const int64_t[::1] rowind, Py_ssize_t q1,
                  Py_ssize_t k1):
    """CHOLMOD's fill-reducing order and supernodal structure of the Schur complement.

    Returns None (CHOLMOD chose a simplicial factor) or (flops, pinv, super, rowptr, rows):
    CHOLMOD's flop count of the sparse factor; the place of each row of S in the order;
    the supernodes' first columns (in the order); each supernode's rows (in the order,
    sorted, its own columns first): rows[rowptr[s]:rowptr[s + 1]]."""
    cdef Py_ssize_t q = colptr.shape[0] - 1, q2 = q - q1
    scp, sri = schur_pattern(colptr, rowind, q1, k1)
    cdef int64_t[::1] scpv = scp
    cdef int64_t[::1] sriv = sri
    cdef double[::1] ones = np.ones(max(1, sri.shape[0]))
    cdef cholmod_common c
    cdef cholmod_sparse A
    cdef _symbolic *L
    cdef cholmod_factor *Lf
    cholmod_l_start(&c)
    c.supernodal = CHOLMOD_SUPERNODAL
    c.print = 0
    A.nrow = q2
    A.ncol = q2
    A.nzmax = sri.shape[0]
    A.p = <void*> &scpv[0]
    A.i = <void*> &sriv[0]
    A.nz = NULL
    A.x = <void*> &ones[0]
    A.z = NULL
    A.stype = 1
    A.itype = CHOLMOD_LONG
    A.xtype = CHOLMOD_REAL
    A.dtype = CHOLMOD_DOUBLE
    A.sorted = 1
    A.packed = 1
    with nogil:
        Lf = cholmod_l_analyze(&A, &c)
    if Lf == NULL:
        st = c.status
        cholmod_l_finish(&c)
        raise MemoryError(f"CHOLMOD analysis of the Schur complement failed (status {st})")
    L = <_symbolic *> Lf
    flops = c.fl
    try:
        if not L.is_super:
            return None
        nsup = <Py_ssize_t> L.nsuper
        perm = np.array(<int64_t[:q2]> (<int64_t *> L.Perm), dtype=np.int64)
        sup = np.array(<int64_t[:nsup + 1]> (<int64_t *> L.super), dtype=np.int64)
        rowptr = np.array(<int64_t[:nsup + 1]> (<int64_t *> L.pi), dtype=np.int64)
        rows = np.array(<int64_t[:rowptr[nsup]]> (<int64_t *> L.s), dtype=np.int64)
    finally:
        cholmod_l_free_factor(&Lf, &c)
        cholmod_l_finish(&c)
    pinv = np.empty(q2, dtype=np.int64)
    pinv[perm] = np.arange(q2, dtype=np.int64)
    return flops, pinv, sup, rowptr, rows


def level_entries(const int64_t[::1] colptr, const int64_t[::1] rowind, Py_ssize_t q1,
                  Py_ssize_t k1, pinv):
    """Each level's entries of L21 in the buffer's order (pinv: the place of each row of S;
    None: natural order). Flat over the levels of the first term, entry e of level b is
    one of its rows >= q1, sorted by place within the level:

    lstart (levels + 1): each level's first entry; erow: the entry's place; esrc: its
    offset among the level's rows in natural order (where its L21 values sit).
    Compiled, without the GIL (a model's set-up runs it on a thread of its own): per
    level an insertion sort of its few rows by place."""
    cdef Py_ssize_t nb1 = q1 // k1, b, i, j, cnt, first
    cdef int64_t r, o
    cdef bint perm = pinv is not None
    cdef const int64_t[::1] pv = pinv if perm else colptr
    starts_a = np.zeros(nb1 + 1, dtype=np.int64)
    cdef int64_t[::1] starts = starts_a
    for b in range(nb1):
        starts[b + 1] = starts[b] + colptr[b * k1 + 1] - colptr[b * k1] - k1
    cdef Py_ssize_t E = starts[nb1]
    erow_a = np.empty(E, dtype=np.int64)
    esrc_a = np.empty(E, dtype=np.int64)
    cdef int64_t[::1] erow = erow_a
    cdef int64_t[::1] esrc = esrc_a
    with nogil:
        for b in range(nb1):
            first = colptr[b * k1] + k1
            cnt = starts[b + 1] - starts[b]
            for i in range(cnt):
                r = rowind[first + i] - q1
                if perm:
                    r = pv[r]
                # insert (r, i) into the level's sorted run (ties keep natural order)
                j = starts[b] + i
                while j > starts[b] and erow[j - 1] > r:
                    erow[j] = erow[j - 1]
                    esrc[j] = esrc[j - 1]
                    j -= 1
                erow[j] = r
                esrc[j] = i
    return starts_a, erow_a, esrc_a


def a22_entries(const int64_t[::1] colptr, const int64_t[::1] rowind, Py_ssize_t q1, pinv):
    """A22's lower-triangle entries by column of the buffer (pinv: the place of each row of
    S; None: natural order): (a22ptr (q2 + 1), a22row: the buffer row, a22pos: the entry's
    position in A's values), each entry in the lower triangle of the buffer's order."""
    cdef Py_ssize_t q = colptr.shape[0] - 1, q2 = q - q1
    cp = np.asarray(colptr)
    ri = np.asarray(rowind)
    pos = np.arange(cp[q1], cp[q])
    col = np.repeat(np.arange(q1, q), np.diff(cp[q1:]))
    row = ri[pos]
    keep = row >= col
    pos, r, c = pos[keep], row[keep] - q1, col[keep] - q1
    if pinv is not None:
        p = np.asarray(pinv)
        r, c = p[r], p[c]
    r, c = np.maximum(r, c), np.minimum(r, c)
    o = np.lexsort((r, c))
    a22ptr = np.concatenate(([0], np.cumsum(np.bincount(c, minlength=q2)))).astype(np.int64)
    return a22ptr, np.ascontiguousarray(r[o], dtype=np.int64), np.ascontiguousarray(pos[o], dtype=np.int64)


def schur_setup(const int64_t[::1] colptr, const int64_t[::1] rowind, Py_ssize_t q1,
                Py_ssize_t k1, schur, Py_ssize_t width, double flops):
    """The Schur complement's set-up for the PLS core: sparse (CHOLMOD's fill-reducing
    order and supernodes) when that needs at most half the dense flops (schur "auto"), or
    as schur ("dense", "sparse") says; assembled `width` columns at a time (0: blocks of
    about 2 MB: at 1M rows (q2 = 1000) an evaluation took 327 ms with 256 KB blocks, 195 ms
    with 2 MB; no change at 1e5 rows or on InstEval). flops: the L21 L21' update's count.

    Returns (sparse, flops of the factor, width, pinv, super, rowptr, rows, lstart, erow,
    esrc, a22ptr, a22row, a22pos, size of the scratch); unused arrays have one entry."""
    cdef Py_ssize_t q2 = colptr.shape[0] - 1 - q1
    one = np.zeros(1, dtype=np.int64)
    sparse = False
    fl = q2 ** 3 / 3.0
    width = max(1, min(q2, width if width > 0 else 262144 // max(q2, 1)))
    pinv = None
    sup = spi = srow = one
    if q2 == 0:
        return (False, 0.0, width, one, one, one, one, one, one, one, one, one, one, 1)
    work = q2
    # sparse only pays on larger blocks whose coupling leaves room for zeros
    if schur == "sparse" or (schur == "auto" and q2 >= 300 and flops <= 2.0 * q2 * q2):
        sym = analyze_schur(colptr, rowind, q1, k1)
        if sym is not None and (schur == "sparse" or sym[0] <= 0.5 * fl):
            fl, pinv, sup, spi, srow = sym
            sparse = True
            work = sparse_work_size(sup, spi, q2)
    lstart, erow, esrc = level_entries(colptr, rowind, q1, k1, pinv)
    a22ptr, a22row, a22pos = a22_entries(colptr, rowind, q1, pinv)
    return (sparse, fl, width, pinv if sparse else one, sup, spi, srow, lstart, erow, esrc,
            a22ptr, a22row, a22pos, work)
