# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Selected inversion: the diagonal level blocks of A^-1, A = Lambda' Z'WZ Lambda + I,
from the factor of a :class:`pymer._core._pls.PLS` core, without forming A^-1.

The conditional variances of the random effects (lme4's condVar) are
sigma^2 Lambda A^-1 Lambda' on each level's k x k diagonal block, so only those
blocks of A^-1 are needed.

* Blocked factorization, A = [[A11, A21'], [A21, A22]], L11 block diagonal (one
  k1 x k1 block per level of the first term), L21 = A21 L11^-T, S = Ls Ls' the
  dense Schur complement:

      (A^-1)_22 = S^-1                         (LAPACK dpotri on Ls)
      (A^-1)_11 = L11^-T (I + L21' S^-1 L21) L11^-1,

  per level b: L_b^-T (I + L21_b' S^-1 L21_b) L_b^-1, with L21_b the level's few
  non-zero rows (the same pattern as the factorization's L21 L21' update). On the
  pattern of Z'Z (rows that meet several terms) also the cross-term blocks
  (A^-1)_21 = -S^-1 L21 L11^-1, per level -V_b L_b^-1 with V_b = S^-1 L21_b on the
  level's rows, and S^-1's entries between the other terms.

* CHOLMOD factorization, L L' = P A P': the Takahashi recurrences give
  Z = (L L')^-1 on the pattern of L, one supernode J at a time from the last
  (columns J, off-diagonal rows R of the supernode):

      Z_RJ = -Z_RR L_RJ L_JJ^-1
      Z_JJ = L_JJ^-T L_JJ^-1 - (L_RJ L_JJ^-1)' Z_RJ

  Z_RR lies on the pattern of L (the rows of a column below any of its
  off-diagonal rows c are rows of column c), so the work and memory are those of
  the factor (a simplicial factor is read as supernodes of one column). Then
  A^-1[i, j] = Z[Pinv[i], Pinv[j]].

Everything after the allocations runs without the GIL, on one BLAS thread.
"""
import numpy as np
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dgemm, dsymm, dtrsm
from scipy.linalg.cython_lapack cimport dlauum, dpotri, dtrtri
from pymer._core._pls cimport PLS, blas_single, blas_restore
from pymer._core._schur_solve cimport schur_unpack
from pymer._core._zwz cimport sorted_position


# the fields of CHOLMOD's factor the recurrences read (cholmod.pxd declares the others)
cdef extern from "cholmod.h" nogil:
    ctypedef struct factor_view "cholmod_factor":
        size_t n
        void *Perm
        void *p
        void *i
        void *x
        void *nz
        size_t nsuper
        void *super "super"
        void *pi
        void *px
        void *s
        int is_ll
        int is_super


cdef struct _Supernodes:
    Py_ssize_t nsup
    int64_t *first      # first column of each supernode (nsup + 1)
    int64_t *rstart     # start of its row indices in rows
    int64_t *nrow       # its number of rows (its columns first, then the rows below)
    int64_t *xstart     # start of its column-major values in Lx and Z (leading dimension nrow)
    int64_t *rows
    int64_t *col2sup
    double *Lx
    double *Z


def diag_blocks_inverse(PLS core):
    """The diagonal level blocks of (Lambda' Z'WZ Lambda + I)^-1 at the core's last update.

    Parameters
    ----------
    core : PLS
        A core updated (``set_theta`` then ``update``) without error.

    Returns
    -------
    numpy.ndarray
        Flat float64 array: for each random-effects term (lme4's order), for each
        level, the k x k block (column-major, symmetric).
    """
    if core.status != 0:
        raise RuntimeError("no valid factorization: the last update failed")
    cdef Py_ssize_t q = core.q, j = 0, k, size = 0
    while j < q:
        k = core.term_k[core.col_term[j]]
        size += k * k
        j += k
    out = np.zeros(size, dtype=np.float64)
    if q == 0:
        return out
    if core.blocked:
        _blocked(core, out)
    else:
        _cholmod(core, out, False)
    return out


def inverse_on_pattern(PLS core):
    """(Lambda' Z'WZ Lambda + I)^-1 on the pattern of Z'Z (the core's CSC colptr/rowind,
    aligned with its Z'WZ values), at the core's last update: every pair of columns one
    row of Z meets, across random-effects terms too.

    Parameters
    ----------
    core : PLS
        A core updated without error (CHOLMOD or blocked factorization).

    Returns
    -------
    numpy.ndarray
        Flat float64 array, one value per entry of the pattern.
    """
    if core.status != 0:
        raise RuntimeError("no valid factorization: the last update failed")
    out = np.zeros(max(1, core.rowind.shape[0]), dtype=np.float64)
    if core.q > 0 and core.blocked:
        _blocked(core, out, True)
    elif core.q > 0:
        _cholmod(core, out, True)
    return out


cdef _blocked(PLS core, double[::1] out, bint pattern=False):
    cdef Py_ssize_t q1 = core.q1, q2 = core.q2, k1 = core.k1, q = core.q
    cdef Py_ssize_t nb1 = q1 // k1 if k1 > 0 else 0
    cdef double[::1, :] Sinv = np.zeros((max(q2, 1), max(q2, 1)), order="F")
    cdef Py_ssize_t nv = 1, jc
    for jc in range(q):  # the widest column of Z'Z's pattern (a C loop: numpy's diff/max cost 20 us a call)
        nv = max(nv, <Py_ssize_t> (core.colptr[jc + 1] - core.colptr[jc]))
    cdef double[::1] v = np.zeros(nv * max(k1, 1), dtype=np.float64)
    cdef double[::1] buf = np.zeros(3 * k1 * k1 + 1, dtype=np.float64)
    cdef int info = 0, n2 = <int> q2, st = 0
    cdef int saved[4]
    cdef char lo = b'L'
    pinv = core.schur_pinv
    if q2 > 0:
        Sinv = np.array(core.S, order="F")     # a copy: the diagonal blocks of the factor
        if pinv is not None:
            # the rows below them from the compact blocks (see _schur_solve.pyx)
            schur_unpack(q2, core.s_sup.shape[0] - 1, &core.s_sup[0], &core.s_spi[0],
                         &core.s_srow[0], &core.bwork[0], &Sinv[0, 0])
        with nogil:
            blas_single(saved)
            dpotri(&lo, &n2, &Sinv[0, 0], &n2, &info)
            blas_restore(saved)
        if info != 0:
            raise RuntimeError(f"the Schur complement's inverse failed (LAPACK info {info})")
        if pinv is not None:
            # the factor is of P2 S P2' (a fill-reducing order): back to S^-1's natural order
            Si = np.tril(np.asarray(Sinv))
            Si += np.tril(Si, -1).T
            Sinv = np.asfortranarray(Si[np.ix_(pinv, pinv)])
    with nogil:
        blas_single(saved)
        if pattern:
            st = _blocked_pattern(core, &Sinv[0, 0], &v[0], &buf[0], &out[0])
        else:
            _blocked_levels(core, &Sinv[0, 0], &v[0], &buf[0], &out[0])
        blas_restore(saved)
    if st != 0:
        raise RuntimeError(f"selected inversion failed (code {st}): the pattern is not as expected")


cdef int _blocked_pattern(PLS core, double *Si, double *V, double *buf, double *out) noexcept nogil:
    """A^-1 on the pattern of Z'Z from the blocked factorization (Si: the lower triangle
    of S^-1 in natural order). Per level b of the first term, V = S^-1 L21_b on the
    level's rows, then

        (A^-1)_11 = L_b^-T (I + L21_b' V) L_b^-1,   (A^-1)_21 = -V L_b^-1

    (the latter in the level's columns and, mirrored, in the other terms' columns);
    the other terms' pairs are S^-1's."""
    cdef Py_ssize_t q1 = core.q1, q2 = core.q2, k1 = core.k1, q = core.q
    cdef Py_ssize_t nb1 = q1 // k1, b, j0, p0, nr2, a, a2, c, c2, ra, ra2, j, p, r, pp, w
    cdef double *M = buf
    cdef double *Li = buf + k1 * k1
    cdef double *T = buf + 2 * k1 * k1
    cdef double acc
    cdef double one = 1.0, zero = 0.0
    cdef int kk = <int> k1, info = 0
    cdef char lo = b'L', nonunit = b'N', tr = b'T', notr = b'N'
    cdef const int64_t *cp = &core.colptr[0]
    cdef const int64_t *ri = &core.rowind[0]
    cdef double *l21 = &core.l21[0]
    for b in range(nb1):
        j0 = b * k1
        p0 = cp[j0] + k1
        nr2 = cp[j0 + 1] - p0
        w = nr2 + k1                      # entries per column of the level
        for c in range(k1 * k1):
            M[c] = 0.0
        for c in range(k1):
            M[c * (k1 + 1)] = 1.0
        for c2 in range(k1):
            # V[:, c2] = S^-1 L21_b[:, c2] on the level's rows
            for a in range(nr2):
                ra = ri[p0 + a] - q1
                acc = 0.0
                for a2 in range(nr2):
                    ra2 = ri[p0 + a2] - q1
                    if ra >= ra2:
                        acc += Si[ra + ra2 * q2] * l21[p0 + c2 * w + a2]
                    else:
                        acc += Si[ra2 + ra * q2] * l21[p0 + c2 * w + a2]
                V[a + c2 * nr2] = acc
            for c in range(k1):
                acc = 0.0
                for a in range(nr2):
                    acc += l21[p0 + c * w + a] * V[a + c2 * nr2]
                M[c + c2 * k1] += acc
        for c in range(k1 * k1):
            Li[c] = core.L11[b * k1 * k1 + c]
        if k1 == 1:
            if Li[0] == 0.0:
                return 1
            Li[0] = 1.0 / Li[0]
        else:
            dtrtri(&lo, &nonunit, &kk, Li, &kk, &info)
            if info != 0:
                return 1
            for c in range(k1):
                for a in range(c):
                    Li[a + c * k1] = 0.0
        # (A^-1)_11: the first k1 rows of each of the level's columns
        dgemm(&tr, &notr, &kk, &kk, &kk, &one, Li, &kk, M, &kk, &zero, T, &kk)
        dgemm(&notr, &notr, &kk, &kk, &kk, &one, T, &kk, Li, &kk, &zero, M, &kk)
        for c in range(k1):
            if ri[cp[j0 + c]] != j0:
                return 2
            for a in range(k1):
                out[cp[j0 + c] + a] = M[a + c * k1]
        # (A^-1)_21 = -V L_b^-1, and its mirror in the other terms' columns
        for c in range(k1):
            for a in range(nr2):
                acc = 0.0
                for c2 in range(c, k1):
                    acc -= V[a + c2 * nr2] * Li[c2 + c * k1]
                out[cp[j0 + c] + k1 + a] = acc
                r = ri[p0 + a]
                pp = sorted_position(ri, cp[r], cp[r + 1] - 1, j0 + c)
                if ri[pp] != j0 + c:
                    return 3
                out[pp] = acc
    for j in range(q1, q):
        for p in range(cp[j], cp[j + 1]):
            r = ri[p]
            if r < q1:
                continue
            ra = r - q1
            ra2 = j - q1
            out[p] = Si[ra + ra2 * q2] if ra >= ra2 else Si[ra2 + ra * q2]
    return 0


cdef void _blocked_levels(PLS core, double *Si, double *v, double *buf, double *out) noexcept nogil:
    """Per level of the first term L_b^-T (I + L21_b' S^-1 L21_b) L_b^-1, then the
    diagonal blocks of S^-1 for the other terms (Si: the lower triangle of S^-1)."""
    cdef Py_ssize_t q1 = core.q1, q2 = core.q2, k1 = core.k1, q = core.q
    cdef Py_ssize_t nb1 = q1 // k1, b, j0, p0, nr2, a, a2, c, c2, ra, ra2, o = 0, k, i
    cdef double *M = buf
    cdef double *Li = buf + k1 * k1
    cdef double *T = buf + 2 * k1 * k1
    cdef double acc, d
    cdef double one = 1.0, zero = 0.0
    cdef int kk = <int> k1, info = 0
    cdef char lo = b'L', nonunit = b'N', tr = b'T', notr = b'N'
    cdef const int64_t *cp = &core.colptr[0]
    cdef const int64_t *ri = &core.rowind[0]
    cdef double *l21 = &core.l21[0]
    for b in range(nb1):
        j0 = b * k1
        p0 = cp[j0] + k1
        nr2 = cp[j0 + 1] - p0
        for c in range(k1 * k1):
            M[c] = 0.0
        for c in range(k1):
            M[c * (k1 + 1)] = 1.0
        if q2 > 0:
            for c2 in range(k1):
                # v = S^-1 L21_b[:, c2] on the level's rows
                for a in range(nr2):
                    ra = ri[p0 + a] - q1
                    acc = 0.0
                    for a2 in range(nr2):
                        ra2 = ri[p0 + a2] - q1
                        if ra >= ra2:
                            acc += Si[ra + ra2 * q2] * l21[p0 + c2 * (nr2 + k1) + a2]
                        else:
                            acc += Si[ra2 + ra * q2] * l21[p0 + c2 * (nr2 + k1) + a2]
                    v[a] = acc
                for c in range(k1):
                    acc = 0.0
                    for a in range(nr2):
                        acc += l21[p0 + c * (nr2 + k1) + a] * v[a]
                    M[c + c2 * k1] += acc
        if k1 == 1:
            d = core.L11[b]
            out[o] = M[0] / (d * d)
        else:
            # L_b^-1, then L_b^-T M L_b^-1
            for c in range(k1 * k1):
                Li[c] = core.L11[b * k1 * k1 + c]
            dtrtri(&lo, &nonunit, &kk, Li, &kk, &info)
            for c in range(k1):
                for a in range(c):
                    Li[a + c * k1] = 0.0
            dgemm(&tr, &notr, &kk, &kk, &kk, &one, Li, &kk, M, &kk, &zero, T, &kk)
            dgemm(&notr, &notr, &kk, &kk, &kk, &one, T, &kk, Li, &kk, &zero, &out[o], &kk)
        o += k1 * k1
    i = q1
    while i < q:
        k = core.term_k[core.col_term[i]]
        for c in range(k):
            for a in range(k):
                ra = i - q1 + (a if a > c else c)
                ra2 = i - q1 + (c if a > c else a)
                out[o + a + c * k] = Si[ra + ra2 * q2]
        o += k * k
        i += k


cdef _cholmod(PLS core, double[::1] out, bint pattern):
    cdef factor_view *L = <factor_view *> core.L
    if L == NULL or L.is_ll == 0:
        raise RuntimeError("selected inversion needs the LL' factor")
    cdef Py_ssize_t q = core.q, nsup, J, j, nx, maxr = 1, maxc = 1, nr, nc
    cdef int64_t *Lp
    cdef int64_t *Lnz
    cdef int64_t *sup
    cdef int64_t *pi
    cdef int64_t *px
    if L.is_super:
        nsup = L.nsuper
        sup = <int64_t *> L.super
        pi = <int64_t *> L.pi
        px = <int64_t *> L.px
        first = np.array(<int64_t[:nsup + 1]> sup, dtype=np.int64)
        rstart = np.array(<int64_t[:nsup + 1]> pi, dtype=np.int64)[:nsup]
        nrow = np.diff(np.array(<int64_t[:nsup + 1]> pi, dtype=np.int64))
        xstart = np.array(<int64_t[:nsup + 1]> px, dtype=np.int64)[:nsup]
        nx = px[nsup]
        rows = np.array(<int64_t[:pi[nsup]]> (<int64_t *> L.s), dtype=np.int64)
    else:
        nsup = q
        Lp = <int64_t *> L.p
        Lnz = <int64_t *> L.nz
        first = np.arange(q + 1, dtype=np.int64)
        rstart = np.array(<int64_t[:q]> Lp, dtype=np.int64)
        xstart = rstart
        nrow = np.array(<int64_t[:q]> Lnz, dtype=np.int64)
        nx = Lp[q]
        rows = np.array(<int64_t[:nx]> (<int64_t *> L.i), dtype=np.int64)
    ncols = np.diff(first)
    maxr = max(1, int(np.max(nrow - ncols)))
    maxc = max(1, int(np.max(ncols)))
    col2sup = np.repeat(np.arange(nsup, dtype=np.int64), ncols)
    pinv = np.arange(q, dtype=np.int64)
    if L.Perm != NULL:
        pinv[np.array(<int64_t[:q]> (<int64_t *> L.Perm), dtype=np.int64)] = np.arange(q, dtype=np.int64)
    cdef double[::1] Z = np.zeros(max(nx, 1), dtype=np.float64)
    cdef double[::1] G = np.zeros(maxr * maxr, dtype=np.float64)
    cdef double[::1] W = np.zeros(maxr * maxc, dtype=np.float64)
    cdef double[::1] D = np.zeros(maxc * maxc, dtype=np.float64)
    cdef int64_t[::1] pos = np.zeros(maxr, dtype=np.int64)
    cdef int64_t[::1] f_ = first, rs_ = rstart, nr_ = nrow, xs_ = xstart, rw_ = rows
    cdef int64_t[::1] c2s_ = col2sup, pinv_ = pinv
    cdef double *Lx = <double *> L.x
    cdef int st = 0
    cdef int saved[4]
    cdef _Supernodes S
    S.nsup = nsup
    S.first = &f_[0]
    S.rstart = &rs_[0]
    S.nrow = &nr_[0]
    S.xstart = &xs_[0]
    S.rows = &rw_[0]
    S.col2sup = &c2s_[0]
    S.Lx = Lx
    S.Z = &Z[0]
    with nogil:
        blas_single(saved)
        st = _takahashi(&S, &G[0], &W[0], &D[0], &pos[0])
        if st == 0 and pattern:
            st = _extract_pattern(core, &S, &pinv_[0], &out[0])
        elif st == 0:
            st = _extract(core, &S, &pinv_[0], &out[0])
        blas_restore(saved)
    if st != 0:
        raise RuntimeError(f"selected inversion failed (code {st}): the factor's pattern is not as expected")


cdef int _takahashi(_Supernodes *S, double *G, double *W, double *D, int64_t *pos) noexcept nogil:
    """Z = (L L')^-1 on the pattern of L, supernodes from the last (see the module docstring)."""
    cdef Py_ssize_t J, K, f, a, a0, a1, b, c, t, nsc, nr, nR, nrK, cc, p, fK
    cdef int64_t r
    cdef int64_t *R
    cdef int64_t *rowsK
    cdef double *Lj
    cdef double *Zj
    cdef double *ZK
    cdef int n_sc, n_R, ld, info = 0
    cdef double one = 1.0, mone = -1.0, zero = 0.0
    cdef char lo = b'L', right = b'R', left = b'L', notr = b'N', tr = b'T', nonunit = b'N'
    for J in range(S.nsup - 1, -1, -1):
        f = S.first[J]
        nsc = S.first[J + 1] - f
        nr = S.nrow[J]
        nR = nr - nsc
        Lj = S.Lx + S.xstart[J]
        Zj = S.Z + S.xstart[J]
        R = S.rows + S.rstart[J] + nsc
        n_sc = <int> nsc
        n_R = <int> nR
        ld = <int> nr
        for c in range(nsc):
            if S.rows[S.rstart[J] + c] != f + c:
                return 1
            for a in range(nsc):
                D[a + c * nsc] = Lj[a + c * nr] if a >= c else 0.0
        if nsc == 1:
            # one column (a simplicial factor): scalars and loops, no BLAS calls
            if D[0] == 0.0:
                return 2
            D[0] = 1.0 / D[0]
        else:
            # D <- L_JJ^-1
            dtrtri(&lo, &nonunit, &n_sc, D, &n_sc, &info)
            if info != 0:
                return 2
        if nR > 0:
            # W = L_RJ L_JJ^-1
            for c in range(nsc):
                for a in range(nR):
                    W[a + c * nR] = Lj[nsc + a + c * nr]
            if nsc == 1:
                for a in range(nR):
                    W[a] *= D[0]
            else:
                dtrsm(&right, &lo, &notr, &nonunit, &n_R, &n_sc, &one, Lj, &ld, W, &n_R)
            # G = Z_RR (lower triangle), gathered column by column; the columns of R in
            # one supernode K share one merge of R against K's rows
            a0 = 0
            while a0 < nR:
                K = S.col2sup[R[a0]]
                a1 = a0 + 1
                while a1 < nR and S.col2sup[R[a1]] == K:
                    a1 += 1
                fK = S.first[K]
                rowsK = S.rows + S.rstart[K]
                nrK = S.nrow[K]
                ZK = S.Z + S.xstart[K]
                p = R[a0] - fK
                for b in range(a0, nR):
                    r = R[b]
                    while p < nrK and rowsK[p] < r:
                        p += 1
                    if p >= nrK or rowsK[p] != r:
                        return 3
                    pos[b] = p
                for a in range(a0, a1):
                    cc = R[a] - fK
                    for b in range(a, nR):
                        G[b + a * nR] = ZK[pos[b] + cc * nrK]
                a0 = a1
            # Z_RJ = -Z_RR W
            if nsc == 1:
                for a in range(nR):
                    Zj[1 + a] = 0.0
                for a in range(nR):
                    Zj[1 + a] -= G[a + a * nR] * W[a]
                    for b in range(a + 1, nR):
                        Zj[1 + b] -= G[b + a * nR] * W[a]
                        Zj[1 + a] -= G[b + a * nR] * W[b]
            else:
                dsymm(&left, &lo, &n_R, &n_sc, &mone, G, &n_R, W, &n_R, &zero, Zj + nsc, &ld)
        if nsc == 1:
            # Z_JJ = L_JJ^-2 - W' Z_RJ
            D[0] = D[0] * D[0]
            for a in range(nR):
                D[0] -= W[a] * Zj[1 + a]
            Zj[0] = D[0]
            continue
        # Z_JJ = L_JJ^-T L_JJ^-1 - W' Z_RJ
        dlauum(&lo, &n_sc, D, &n_sc, &info)
        for c in range(nsc):
            for a in range(c):
                D[a + c * nsc] = D[c + a * nsc]
        if nR > 0:
            dgemm(&tr, &notr, &n_sc, &n_sc, &n_R, &mone, W, &n_R, Zj + nsc, &ld, &one, D, &n_sc)
        for c in range(nsc):
            for a in range(nsc):
                Zj[a + c * nr] = D[a + c * nsc]
    return 0


cdef inline int _lookup(_Supernodes *S, const int64_t *pinv, int64_t i, int64_t j,
                        double *v) noexcept nogil:
    """A^-1[i, j] = Z[Pinv[i], Pinv[j]], looked up in the lower triangle of Z (the
    supernode of the smaller index, its rows by bisection)."""
    cdef int64_t pa = pinv[i], pc = pinv[j], r, col
    cdef Py_ssize_t K, nrK, lo
    cdef int64_t *rowsK
    r = pa if pa > pc else pc
    col = pc if pa > pc else pa
    K = S.col2sup[col]
    rowsK = S.rows + S.rstart[K]
    nrK = S.nrow[K]
    lo = sorted_position(rowsK, col - S.first[K], nrK - 1, r)
    if rowsK[lo] != r:
        return 4
    v[0] = S.Z[S.xstart[K] + lo + (col - S.first[K]) * nrK]
    return 0


cdef int _extract_pattern(PLS core, _Supernodes *S, const int64_t *pinv, double *out) noexcept nogil:
    """A^-1 on the pattern of Z'Z (CSC colptr/rowind of the core)."""
    cdef Py_ssize_t j, p
    for j in range(core.q):
        for p in range(core.colptr[j], core.colptr[j + 1]):
            if _lookup(S, pinv, core.rowind[p], j, &out[p]) != 0:
                return 4
    return 0


cdef int _extract(PLS core, _Supernodes *S, const int64_t *pinv, double *out) noexcept nogil:
    """A^-1's level blocks."""
    cdef Py_ssize_t q = core.q, j0 = 0, k, a, c, o = 0
    while j0 < q:
        k = core.term_k[core.col_term[j0]]
        for c in range(k):
            for a in range(c, k):
                if _lookup(S, pinv, j0 + a, j0 + c, &out[o + a + c * k]) != 0:
                    return 4
                out[o + c + a * k] = out[o + a + c * k]
        o += k * k
        j0 += k
    return 0
