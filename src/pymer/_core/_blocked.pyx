# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The blocked factorization of A + I = Lambda' Z'WZ Lambda + I for the PLS core (_pls.pyx).

The first random-effects term's diagonal block is itself block diagonal (one k1 x k1
block per level, as each observation has one level), so with
A + I = [[A11, A21'], [A21, A22]]:

* L11: a Cholesky factor per level (k1 x k1);
* L21 = A21 L11^-T keeps the sparse pattern of Z_2'Z_1 (the rows >= q1 of the first
  q1 columns of Z'Z's pattern, stored in place of those entries);
* S = A22 + I - L21 L21' (q2 x q2) is formed dense and factored by LAPACK.

The factor is L = [[L11, 0], [L21, L_S]] with P = I. Everything here runs without the
GIL on the core's arrays, described by a :c:type:`Blocked` record.
"""
from libc.math cimport log, sqrt
from libc.string cimport memset
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dtrsm
from scipy.linalg.cython_lapack cimport dpotrf


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


cdef int blocked_factor(Blocked *F, const double *av, double *logdet) noexcept nogil:
    """Blocked: L11 per level of the first term, L21 = A21 L11^-T on the pattern,
    S = A22 + I - L21 L21' dense and its LAPACK Cholesky, from the values av of A on
    the pattern; logdet = log |L|^2. Returns 0, or 1 when A + I is not positive definite."""
    cdef Py_ssize_t k1 = F.k1, q1 = F.q1, q2 = F.q2, b, j0, c, s, r, idx, a, nr2
    cdef Py_ssize_t j, pos, p0, rb, nb1 = q1 // k1 if k1 > 0 else 0
    cdef double acc = 0.0, d, v
    cdef double *Lb
    cdef double *Sp
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
        Sp = F.S
        for j in range(q2):
            memset(&Sp[j + j * q2], 0, (q2 - j) * sizeof(double))
        # lower triangle of A22 + I
        for j in range(q1, F.q):
            for pos in range(cp[j], cp[j + 1]):
                r = ri[pos]
                if r >= j:
                    Sp[(r - q1) + (j - q1) * q2] = av[pos]
            Sp[(j - q1) * (q2 + 1)] += 1.0
        # minus L21 L21': each level's rows form a dense outer product (rows sorted)
        for b in range(nb1):
            j0 = b * k1
            p0 = cp[j0] + k1
            nr2 = cp[j0 + 1] - p0
            # the k1 columns of L21_b sit at p0, p0 + nr, ... (block-dense pattern)
            if k1 == 1:
                for idx in range(nr2):
                    v = l21[p0 + idx]
                    if v == 0.0:
                        continue
                    rb = (ri[p0 + idx] - q1) * q2 - q1
                    for a in range(idx, nr2):
                        Sp[ri[p0 + a] + rb] -= l21[p0 + a] * v
            else:
                for idx in range(nr2):
                    rb = (ri[p0 + idx] - q1) * q2 - q1
                    for a in range(idx, nr2):
                        v = 0.0
                        for c in range(k1):
                            v += l21[p0 + c * (nr2 + k1) + a] * l21[p0 + c * (nr2 + k1) + idx]
                        Sp[ri[p0 + a] + rb] -= v
        dpotrf(&lo, &n2, Sp, &n2, &info)
        if info != 0:
            return 1
        for j in range(q2):
            acc += log(Sp[j * (q2 + 1)])
    logdet[0] = 2.0 * acc
    return 0


cdef void blocked_solve_fwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- L^-1 x for x (q x ncol, column-major) in place."""
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
        dtrsm(&side, &lo, &notr, &nonunit, &n2, &nc, &one, F.S, &n2, x + q1, &ldx)


cdef void blocked_solve_bwd(Blocked *F, double *x, Py_ssize_t ncol) noexcept nogil:
    """x <- L^-T x for x (q x ncol, column-major) in place."""
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
