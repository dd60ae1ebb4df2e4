# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Penalized least squares for linear mixed models on CHOLMOD.

For a fixed theta the PLS problem is solved from cross-products only
(Bates et al. 2015, sections 3.2-3.4):

    L L' = P (Lambda' Z'WZ Lambda + I) P'
    L [R_ZX  c_u] = P Lambda' Z'W [X  y]
    U'U = [X y]'W[X y] - [R_ZX c_u]'[R_ZX c_u],   U = [[R_X, c_beta], [0, r]]

r^2 = pwrss, |R_X|^2 and |L|^2 give the profiled ML/REML criteria.

Two factorizations of A + I = Lambda' Z'WZ Lambda + I:

* blocked (the default when it is cheaper; _blocked.pyx): the first random-effects
  term's diagonal block is itself block diagonal (one k1 x k1 block per level), so
  L11 is a Cholesky factor per level, L21 = A21 L11^-T keeps the sparse pattern of
  Z_2'Z_1, and the Schur complement S = A22 - L21 L21' is factored by LAPACK, dense
  or, when sparse enough, supernodal in a fill-reducing order (P = diag(I, P2));
* CHOLMOD's supernodal/simplicial sparse Cholesky with a fill-reducing P, for
  models whose remaining terms are too large to treat as one dense block.
"""
import numpy as np
from libc.math cimport log, INFINITY, NAN, M_PI
from libc.string cimport memcpy
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dsyrk
from scipy.linalg.cython_lapack cimport dpotrf
from pymer._core.cholmod cimport *
from pymer._core._blocked cimport Blocked
from pymer._core._schur_solve cimport schur_factor, schur_solve_fwd, schur_solve_bwd
from pymer._core._blocked import blocked_structure, second_thread_scratch
from pymer._core._schur import schur_setup
from pymer._core._background import Background

cdef extern from "cholmod.h" nogil:
    cholmod_factor *cholmod_l_copy_factor(cholmod_factor *L, cholmod_common *c)


cdef inline Blocked _blocked_view(PLS self) noexcept nogil:
    """The blocked factor's arrays (see _blocked.pyx) as a record for its kernels."""
    cdef Blocked F
    F.q, F.q1, F.q2, F.k1 = self.q, self.q1, self.q2, self.k1
    F.cp = &self.colptr[0]
    F.ri = &self.rowind[0]
    F.L11 = &self.L11[0]
    F.l21 = &self.l21[0]
    F.S = &self.S[0, 0]
    F.pinv = &self.s_pinv[0] if self.sparse_schur else NULL
    F.nsuper = self.s_sup.shape[0] - 1
    F.sup = &self.s_sup[0]
    F.spi = &self.s_spi[0]
    F.srow = &self.s_srow[0]
    F.width = self.schur_width
    F.E = self.s_erow.shape[0]
    F.lstart = &self.s_lstart[0]
    F.erow = &self.s_erow[0]
    F.esrc = &self.s_esrc[0]
    F.a22ptr = &self.s_a22ptr[0]
    F.a22row = &self.s_a22row[0]
    F.a22pos = &self.s_a22pos[0]
    F.cursor = &self.s_cursor[0]
    F.G = &self.s_G[0]
    F.work = &self.bwork[0]
    F.Lc = NULL             # _schur_solve.schur_factor places the compact blocks
    F.worker, F.split = worker_live(self.worker) if not self.helper_paused else NULL, self.s_split
    F.cursor2 = &self.s_cursor2[0] if F.worker != NULL else NULL
    F.W2 = &self.s_W2[0] if F.worker != NULL else NULL
    return F


cdef class PLS:
    """Compiled PLS state of one linear mixed model (the predictor side).

    Parameters
    ----------
    colptr, rowind : int64 arrays
        CSC pattern (both triangles, rows sorted) of Z'Z, block-dense: every
        column of a level block shares the row pattern of the block.
    ztz : float64 array
        Values of Z'WZ on that pattern.
    ZtXy : (q, p+1) float64 array
        Z'W[X y].
    XytXy : (p+1, p+1) float64 array
        [X y]'W[X y].
    col_term, col_off : int32 arrays (q,)
        Random-effects term of each column of Z, and its offset inside its level block.
    term_k : int32 array
        Number of columns per level of each term.
    n : int
        Number of observations.
    method : {"auto", "blocked", "cholmod"}
        Factorization (see the module docstring); "auto" picks the one with the
        smaller estimated cost.
    """

    def __cinit__(self):
        cholmod_l_start(&self.c)
        self.L = NULL
        self.worker = NULL
        self._eval_threads = 1

    def __dealloc__(self):
        worker_free(self.worker)
        if self.L != NULL:
            cholmod_l_free_factor(&self.L, &self.c)
        cholmod_l_finish(&self.c)

    def __init__(self, colptr, rowind, ztz, ZtXy, XytXy, col_term, col_off, term_k, Py_ssize_t n,
                 method="auto"):
        self.colptr = np.ascontiguousarray(colptr, dtype=np.int64)
        self.rowind = np.ascontiguousarray(rowind, dtype=np.int64)
        self.ztz = np.array(ztz, dtype=np.float64)
        self.ZtXy = np.array(ZtXy, dtype=np.float64, order="F")
        self.XytXy = np.array(XytXy, dtype=np.float64, order="F")
        self.col_term = np.ascontiguousarray(col_term, dtype=np.int32)
        self.col_off = np.ascontiguousarray(col_off, dtype=np.int32)
        k = np.ascontiguousarray(term_k, dtype=np.int32)
        self.term_k = k
        self.n = n
        self.q = self.ZtXy.shape[0]
        self.m = self.ZtXy.shape[1]
        self.p = self.m - 1
        self.nterms = k.shape[0]
        # per-term offsets into T and theta (few terms: Python integers beat numpy calls;
        # no negative indexing here: the module is compiled with wraparound=False)
        ks = k.tolist()
        nT, nth = 0, 0
        toff, thoff = [0], [0]
        for kt in ks:
            nT += kt * kt
            nth += kt * (kt + 1) // 2
            toff.append(nT)
            thoff.append(nth)
        self.term_toff = np.array(toff, dtype=np.int32)
        self.term_thoff = np.array(thoff, dtype=np.int32)
        self.ntheta = nth
        self.Tbuf = np.zeros(nT, dtype=np.float64)
        if self.colptr.shape[0] != self.q + 1:
            raise ValueError("colptr must have q + 1 entries")
        # the upper triangle is a prefix of each sorted column
        cdef Py_ssize_t j, idx, q = self.q, nu = 0, maxnnz = 0
        cdef int64_t[::1] cpv = self.colptr
        cdef int64_t[::1] riv = self.rowind
        cdef int64_t[::1] ucp = np.zeros(q + 1, dtype=np.int64)
        for j in range(q):
            idx = cpv[j]
            maxnnz = max(maxnnz, cpv[j + 1] - idx)
            while idx < cpv[j + 1] and riv[idx] <= j:
                idx += 1
            nu += idx - cpv[j]
            ucp[j + 1] = nu
        cdef int64_t[::1] uri = np.empty(nu, dtype=np.int64)
        for j in range(q):
            for idx in range(ucp[j + 1] - ucp[j]):
                uri[ucp[j] + idx] = riv[cpv[j] + idx]
        self.ucolptr = ucp
        self.urowind = uri
        self.uvals = np.zeros(nu, dtype=np.float64)
        maxk = max(ks) if ks else 1
        self.work = np.zeros(max(1, maxnnz * maxk), dtype=np.float64)
        self.RZXy = np.zeros((self.q, self.m), dtype=np.float64, order="F")
        self.U = np.zeros((self.m, self.m), dtype=np.float64, order="F")
        self.choose_factorization(method)

    def choose_factorization(self, method="auto", schur="auto", Py_ssize_t schur_width=0):
        """Set up the blocked or the CHOLMOD factorization (see the module docstring). For
        the blocked one: the Schur complement "dense" or "sparse" (supernodal in a
        fill-reducing order), assembled schur_width columns at a time ("auto" and 0: what
        the cost model picks; see _schur.schur_setup)."""
        if method not in ("auto", "blocked", "cholmod"):
            raise ValueError(f"method must be 'auto', 'blocked' or 'cholmod', not {method!r}")
        if schur not in ("auto", "dense", "sparse"):
            raise ValueError(f"schur must be 'auto', 'dense' or 'sparse', not {schur!r}")
        if schur_width < 0:
            raise ValueError(f"schur_width must be >= 0 (0: automatic), not {schur_width}")
        if self.L != NULL:
            cholmod_l_free_factor(&self.L, &self.c)
        self.blocked = False
        self.cholmod_flops = NAN
        ok, q1, k1, flops = self._blocked_structure()
        q2 = self.q - q1
        if method == "blocked" and not ok:
            raise ValueError("the first random-effects term's block of Z'Z is not block diagonal")
        use_blocked = method == "blocked"
        pre = None
        if method == "auto" and ok:
            # Cost model: dense LAPACK on an optimized BLAS runs several times more flops per
            # second than a sparse factorization, and the blocked form has no symbolic overhead
            # per call; CHOLMOD wins when its ordering keeps the remaining terms sparse.
            # Blocked costs within the 2e5 allowance win whatever CHOLMOD's flops: no analysis.
            if q2 == 0 or q2 ** 3 / 3.0 + flops <= 2e5:
                use_blocked = True
            elif q2 <= 6000:
                # the Schur complement's set-up (in case blocked wins) on a second thread
                # while CHOLMOD analyzes the whole pattern here: both release the GIL
                pre = Background(schur_setup, self.colptr, self.rowind, q1, k1, schur,
                                 schur_width, flops)
                self.analyze()
                use_blocked = q2 ** 3 / 3.0 + flops <= 4.0 * self.cholmod_flops + 2e5
        if use_blocked:
            if self.L != NULL:
                cholmod_l_free_factor(&self.L, &self.c)
            self.blocked = True
            self.q1, self.k1, self.q2 = q1, k1, q2
            self.avals = np.zeros(self.rowind.shape[0], dtype=np.float64)
            self.l21 = np.zeros(self.rowind.shape[0], dtype=np.float64)
            self.L11 = np.zeros(max(1, q1 * k1), dtype=np.float64)
            self.S = np.zeros((max(q2, 1), max(q2, 1)), dtype=np.float64, order="F")
            self._setup_schur(schur, schur_width, flops, None if pre is None else pre.result())
        elif self.L == NULL:
            self.analyze()

    def _setup_schur(self, schur, Py_ssize_t width, double flops, done=None):
        """The Schur complement's set-up (see _schur.schur_setup; done: its result,
        computed already)."""
        if done is None:
            done = schur_setup(self.colptr, self.rowind, self.q1, self.k1, schur, width, flops)
        (self.sparse_schur, self.schur_flops, self.schur_width, self.s_pinv, self.s_sup,
         self.s_spi, self.s_srow, self.s_lstart, self.s_erow, self.s_esrc, self.s_a22ptr,
         self.s_a22row, self.s_a22pos, nwork) = done
        self.s_cursor = np.zeros(max(1, self.q1 // max(self.k1, 1)), dtype=np.int64)
        self.s_G = np.zeros(max(1, self.s_erow.shape[0] * self.k1))
        self.bwork = np.zeros(max(1, nwork))
        self._start_worker()

    @property
    def eval_threads(self):
        """Threads an evaluation may use, 1 or 2 (copies get 1; _eval_worker.pyx; q2 >= 512)."""
        return self._eval_threads

    @eval_threads.setter
    def eval_threads(self, n):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= 2:
            raise ValueError(f"eval_threads must be 1 or 2, not {n!r}")
        self._eval_threads = n
        self._start_worker()

    def _start_worker(self):
        """The second thread and its share's scratch when two are allowed and it gains."""
        worker_free(self.worker)
        self.worker = NULL
        if self._eval_threads == 2 and self.blocked and self.q2 >= 512:
            self.s_split, self.s_cursor2, self.s_W2 = second_thread_scratch(self.s_lstart,
                self.s_erow, self.s_a22ptr, self.s_spi, self.s_sup, self.q2, self.sparse_schur,
                self.schur_width)
            self.worker = worker_new()      # NULL (one thread) if it cannot start

    @property
    def schur_pinv(self):
        """The place of each row of the Schur complement in its fill-reducing order (the
        blocked factorization's P2), or None when it is factored in natural order."""
        return np.asarray(self.s_pinv).copy() if self.blocked and self.sparse_schur else None

    def copy(self):
        """A core of its own on the same model: the pattern, the column structure and the
        factorization's set-up (CHOLMOD's symbolic analysis) are shared or copied, not
        recomputed; values (cross-products, factor) are copies, changed independently.
        For a new response (refit, bootstrap): copy, then replace the cross-products."""
        cls = type(self)
        cdef PLS new = cls.__new__(cls)
        if hasattr(self, "__dict__"):
            new.__dict__.update(self.__dict__)
        # read-only after construction: shared
        new.colptr, new.rowind = self.colptr, self.rowind
        new.ucolptr, new.urowind = self.ucolptr, self.urowind
        new.col_term, new.col_off = self.col_term, self.col_off
        new.term_k, new.term_toff, new.term_thoff = self.term_k, self.term_toff, self.term_thoff
        new.n, new.p, new.q, new.m, new.nterms, new.ntheta = self.n, self.p, self.q, self.m, self.nterms, self.ntheta
        new.blocked, new.q1, new.q2, new.k1 = self.blocked, self.q1, self.q2, self.k1
        new.cholmod_flops = self.cholmod_flops
        new.logdetL, new.logdetRX, new.pwrss, new.status = self.logdetL, self.logdetRX, self.pwrss, self.status
        # written by updates and set_crossprods: copies
        new.ztz = np.array(self.ztz)
        new.ZtXy = np.array(self.ZtXy, order="F")
        new.XytXy = np.array(self.XytXy, order="F")
        new.uvals = np.array(self.uvals)
        new.Tbuf = np.array(self.Tbuf)
        new.work = np.array(self.work)
        new.RZXy = np.array(self.RZXy, order="F")
        new.U = np.array(self.U, order="F")
        if self.blocked:
            new.avals = np.array(self.avals)
            new.l21 = np.array(self.l21)
            new.L11 = np.array(self.L11)
            new.S = np.array(self.S, order="F")
            new.sparse_schur, new.schur_width, new.schur_flops = self.sparse_schur, self.schur_width, self.schur_flops
            new.s_pinv, new.s_sup, new.s_spi, new.s_srow = self.s_pinv, self.s_sup, self.s_spi, self.s_srow
            new.s_lstart, new.s_erow, new.s_esrc = self.s_lstart, self.s_erow, self.s_esrc
            new.s_a22ptr, new.s_a22row, new.s_a22pos = self.s_a22ptr, self.s_a22row, self.s_a22pos
            new.bwork, new.s_G, new.s_cursor = np.array(self.bwork), np.array(self.s_G), np.array(self.s_cursor)
        new.c.final_asis = self.c.final_asis
        new.c.final_ll = self.c.final_ll
        new.c.final_super = self.c.final_super
        new.c.final_pack = self.c.final_pack
        new.c.final_monotonic = self.c.final_monotonic
        new.c.final_resymbol = self.c.final_resymbol
        new.c.quick_return_if_not_posdef = self.c.quick_return_if_not_posdef
        new.c.print = self.c.print
        if self.L != NULL:
            new.L = cholmod_l_copy_factor(self.L, &new.c)
            if new.L == NULL:
                raise MemoryError(f"CHOLMOD could not copy the factor (status {new.c.status})")
        return new

    def _blocked_structure(self):
        """(ok, q1, k1, flops of the L21 L21' update) for the first term as the blocked part."""
        if self.q == 0 or self.nterms == 0:
            return False, 0, 0, 0.0
        return blocked_structure(self.colptr, self.rowind, self.col_term, self.term_k[0])

    cdef cholmod_sparse A_view(self) noexcept nogil:
        cdef cholmod_sparse A
        A.nrow = self.q
        A.ncol = self.q
        A.nzmax = self.urowind.shape[0]
        A.p = <void*> &self.ucolptr[0]
        A.i = <void*> &self.urowind[0] if self.urowind.shape[0] > 0 else NULL
        A.nz = NULL
        A.x = <void*> &self.uvals[0] if self.uvals.shape[0] > 0 else NULL
        A.z = NULL
        A.stype = 1
        A.itype = CHOLMOD_LONG
        A.xtype = CHOLMOD_REAL
        A.dtype = CHOLMOD_DOUBLE
        A.sorted = 1
        A.packed = 1
        return A

    def analyze(self):
        """Symbolic analysis of the fixed pattern (once per model)."""
        cdef cholmod_sparse A = self.A_view()
        self.c.final_asis = 0
        self.c.final_ll = 1
        self.c.final_super = 1
        self.c.final_pack = 1
        self.c.final_monotonic = 1
        self.c.final_resymbol = 0
        self.c.quick_return_if_not_posdef = 1
        self.c.print = 0
        cdef cholmod_common *cm = &self.c
        cdef cholmod_factor *L
        if self.L != NULL:
            cholmod_l_free_factor(&self.L, &self.c)
        # without the GIL: a model's set-up runs it on a thread of its own (lmm.py)
        with nogil:
            L = cholmod_l_analyze(&A, cm)
        self.L = L
        if self.L == NULL:
            raise MemoryError(f"CHOLMOD analysis failed (status {self.c.status})")
        self.cholmod_flops = self.c.fl

    @property
    def is_supernodal(self):
        return self.L != NULL and bool(self.L.is_super)

    @property
    def factorization(self):
        """"blocked" or "cholmod"."""
        return "blocked" if self.blocked else "cholmod"

    cdef void fill_T(self, const double *theta) noexcept nogil:
        cdef Py_ssize_t t, r, c, k, idx, o
        for t in range(self.nterms):
            k = self.term_k[t]
            o = self.term_toff[t]
            idx = self.term_thoff[t]
            for c in range(k):
                for r in range(k):
                    if r < c:
                        self.Tbuf[o + r + c * k] = 0.0
                    else:
                        self.Tbuf[o + r + c * k] = theta[idx]
                        idx += 1

    cdef void update_A(self) noexcept nogil:
        """Lambda' Z'WZ Lambda (Lambda block diagonal, T per level): its upper triangle
        into uvals (CHOLMOD), or into avals (blocked) the entries the blocked factorization
        reads: every entry of the first term's columns, the lower triangle of the others'."""
        cdef Py_ssize_t j0 = 0, j, c, s, idx, nr, k, ka = 1, r, rr, t, ta, pt, start, i, nout
        cdef Py_ssize_t base, lo
        cdef double acc, t00 = 0.0
        cdef double *out
        cdef double *T
        cdef double *Ta = NULL
        cdef double *tp
        cdef double *tmp = &self.work[0]
        cdef double *vals = &self.ztz[0]
        while j0 < self.q:
            t = self.col_term[j0]
            k = self.term_k[t]
            T = &self.Tbuf[self.term_toff[t]]
            start = self.colptr[j0]
            nr = self.colptr[j0 + 1] - start
            # blocked, past the first term: only the rows >= j0 (the block's lower part;
            # rows are sorted, row j0 ends the upper prefix of column j0)
            base = 0
            if self.blocked and j0 >= self.q1:
                base = self.ucolptr[j0 + 1] - self.ucolptr[j0] - 1
            # tmp[:, c] = sum_{s >= c} Z'WZ[:, j0 + s] T[s, c]
            for c in range(k):
                tp = &tmp[c * nr]
                for idx in range(base, nr):
                    tp[idx] = 0.0
                for s in range(c, k):
                    acc = T[s + c * k]
                    if acc != 0.0:
                        for idx in range(base, nr):
                            tp[idx] += acc * vals[self.colptr[j0 + s] + idx]
            # rows of the block of row i are contiguous in the sorted pattern; the row
            # term's factor is looked up once per run of rows of one term
            for c in range(k):
                j = j0 + c
                tp = &tmp[c * nr]
                if self.blocked:
                    lo = base + c if base > 0 else 0
                    nout = nr
                    out = &self.avals[start + c * nr]
                else:
                    lo = 0
                    nout = self.ucolptr[j + 1] - self.ucolptr[j]
                    out = &self.uvals[self.ucolptr[j]]
                pt = -1
                for idx in range(lo, nout):
                    i = self.rowind[start + idx]
                    ta = self.col_term[i]
                    if ta != pt:
                        pt = ta
                        ka = self.term_k[ta]
                        Ta = &self.Tbuf[self.term_toff[ta]]
                        t00 = Ta[0]
                    acc = 0.0
                    if ka == 1:
                        acc += t00 * tp[idx]
                    else:
                        r = self.col_off[i]
                        for rr in range(r, ka):
                            acc += Ta[rr + r * ka] * tp[idx - r + rr]
                    out[idx] = acc
            j0 += k

    cdef int update_L(self) noexcept nogil:
        """Factor A + I, then R_ZX, c_u, R_X, c_beta and r^2. Returns 0 on success."""
        cdef int saved[4]
        cdef int st
        blas_single(saved)
        st = self._update_L()
        blas_restore(saved)
        return st

    cdef int _update_L(self) noexcept nogil:
        cdef Py_ssize_t j, c, s, k, t, i, col, m = self.m, q = self.q
        cdef double acc
        cdef double *T
        cdef const double *zc
        cdef double *rc
        cdef int info = 0, mm = <int> m, qq = <int> q
        cdef double one = 1.0, minus_one = -1.0
        cdef char uplo = b'U'
        cdef char trans = b'T'
        self.status = 0
        if q > 0:
            if self.blocked:
                self.status = self.factor_blocked()
            else:
                self.status = self.factor_cholmod()
            if self.status != 0:
                return self.status
            # RZXy = L^-1 P Lambda' Z'W[X y]: row j0 + c of Lambda'B is sum_{s >= c} T[s, c] row j0 + s
            # (a column at a time: both arrays column-major)
            for col in range(m):
                zc = &self.ZtXy[0, col]
                rc = &self.RZXy[0, col]
                j = 0
                while j < q:
                    t = self.col_term[j]
                    k = self.term_k[t]
                    T = &self.Tbuf[self.term_toff[t]]
                    if k == 1:
                        # a run of one scalar term's columns: the same sum, vectorized
                        i = j
                        while i < q and self.col_term[i] == t:
                            i += 1
                        for c in range(j, i):
                            rc[c] = 0.0 + T[0] * zc[c]
                        j = i
                        continue
                    for c in range(k):
                        acc = 0.0
                        for s in range(c, k):
                            acc += T[s + c * k] * zc[j + s]
                        rc[j + c] = acc
                    j += k
            if self.solve_fwd(&self.RZXy[0, 0], m) != 0:
                self.status = 2
                return 2
        else:
            self.logdetL = 0.0
        # U'U = [X y]'W[X y] - RZXy' RZXy (upper triangle), then Cholesky
        for j in range(m):
            for i in range(j + 1):
                self.U[i, j] = self.XytXy[i, j]
        if q > 0:
            dsyrk(&uplo, &trans, &mm, &qq, &minus_one, &self.RZXy[0, 0], &qq, &one, &self.U[0, 0], &mm)
        dpotrf(&uplo, &mm, &self.U[0, 0], &mm, &info)
        if info > 0 and info < m:
            self.status = 3        # X'X - RZX'RZX not positive definite
            return 3
        if info == m:
            self.pwrss = 0.0       # perfect fit: y in the span of X and Z
        else:
            self.pwrss = self.U[m - 1, m - 1] * self.U[m - 1, m - 1]
        acc = 0.0
        for j in range(m - 1):
            acc += log(self.U[j, j])
        self.logdetRX = 2.0 * acc
        return 0

    cdef int factor_cholmod(self) noexcept nogil:
        """CHOLMOD: L L' = P (A + I) P' on the one symbolic analysis; logdetL."""
        cdef cholmod_sparse A = self.A_view()
        cdef double beta[2]
        cdef Py_ssize_t j, s, jj, nscol, nsrow, p0
        cdef double acc = 0.0
        cdef int64_t *sup
        cdef int64_t *pi
        cdef int64_t *px
        cdef int64_t *lp
        cdef double *lx
        beta[0] = 1.0
        beta[1] = 0.0
        cholmod_l_factorize_p(&A, beta, NULL, 0, self.L, &self.c)
        if self.c.status != CHOLMOD_OK or self.L.minor < self.L.n:
            return 1
        lx = <double*> self.L.x
        if self.L.is_super:
            sup = <int64_t*> self.L.super
            pi = <int64_t*> self.L.pi
            px = <int64_t*> self.L.px
            for s in range(<Py_ssize_t> self.L.nsuper):
                nscol = sup[s + 1] - sup[s]
                nsrow = pi[s + 1] - pi[s]
                p0 = px[s]
                for jj in range(nscol):
                    acc += log(lx[p0 + jj * nsrow + jj])
        else:
            lp = <int64_t*> self.L.p
            for j in range(self.q):
                acc += log(lx[lp[j]])
        self.logdetL = 2.0 * acc
        return 0

    cdef int factor_blocked(self) noexcept nogil:
        """The blocked factorization (_blocked.pyx) of A + I; logdetL."""
        cdef Blocked F = _blocked_view(self)
        return schur_factor(&F, &self.avals[0], &self.logdetL)

    cdef int cholmod_solve2(self, int sys1, int sys2, double *x, Py_ssize_t ncol) noexcept nogil:
        """x <- the CHOLMOD solves sys2(sys1(x)) on the factor, for x (q x ncol) in place."""
        cdef cholmod_dense B
        cdef cholmod_dense *Y
        cdef cholmod_dense *X
        B.nrow = self.q
        B.ncol = ncol
        B.nzmax = self.q * ncol
        B.d = self.q
        B.x = <void*> x
        B.z = NULL
        B.xtype = CHOLMOD_REAL
        B.dtype = CHOLMOD_DOUBLE
        Y = cholmod_l_solve(sys1, self.L, &B, &self.c)
        if Y == NULL:
            return 2
        X = cholmod_l_solve(sys2, self.L, Y, &self.c)
        cholmod_l_free_dense(&Y, &self.c)
        if X == NULL:
            return 2
        memcpy(x, X.x, self.q * ncol * sizeof(double))
        cholmod_l_free_dense(&X, &self.c)
        return 0

    cdef int solve_fwd(self, double *x, Py_ssize_t ncol) noexcept nogil:
        """x <- L^-1 P x for x (q x ncol, column-major) in place."""
        cdef Blocked F
        if self.q == 0 or ncol == 0:
            return 0
        if not self.blocked:
            return self.cholmod_solve2(CHOLMOD_P, CHOLMOD_L, x, ncol)
        F = _blocked_view(self)
        schur_solve_fwd(&F, x, ncol)
        return 0

    cdef int solve_bwd(self, double *x, Py_ssize_t ncol) noexcept nogil:
        """x <- P' L^-T x for x (q x ncol, column-major) in place."""
        cdef Blocked F
        if self.q == 0 or ncol == 0:
            return 0
        if not self.blocked:
            return self.cholmod_solve2(CHOLMOD_Lt, CHOLMOD_Pt, x, ncol)
        F = _blocked_view(self)
        schur_solve_bwd(&F, x, ncol)
        return 0

    cdef double objective_value(self, bint reml) noexcept nogil:
        cdef double nmp
        if self.status != 0:
            return INFINITY
        if self.pwrss <= 0.0:
            return -INFINITY
        if reml:
            nmp = <double> (self.n - self.p)
            return self.logdetL + self.logdetRX + nmp * (1.0 + log(2.0 * M_PI * self.pwrss / nmp))
        return self.logdetL + self.n * (1.0 + log(2.0 * M_PI * self.pwrss / self.n))

    cdef int evaluate_nogil(self, const double *theta) noexcept nogil:
        self.fill_T(theta)
        self.update_A()
        return self.update_L()

    cdef int solve_beta_nogil(self, double *beta) noexcept nogil:
        """beta = R_X^-1 c_beta (back substitution on the upper triangle of U)."""
        cdef Py_ssize_t i, j, p = self.p
        cdef double acc
        for i in range(p - 1, -1, -1):
            acc = self.U[i, p]
            for j in range(i + 1, p):
                acc -= self.U[i, j] * beta[j]
            beta[i] = acc / self.U[i, i]
        return 0

    cdef int solve_u_nogil(self, const double *beta, double *u) noexcept nogil:
        """u = P' L^-T (c_u - R_ZX beta), written to u (length q)."""
        cdef Py_ssize_t i, j, q = self.q, p = self.p
        cdef double acc
        if q == 0:
            return 0
        for i in range(q):
            acc = self.RZXy[i, p]
            for j in range(p):
                acc -= self.RZXy[i, j] * beta[j]
            u[i] = acc
        cdef int saved[4]
        blas_single(saved)
        i = self.solve_bwd(u, 1)
        blas_restore(saved)
        return i

    cdef void lambda_apply_nogil(self, const double *u, double *b) noexcept nogil:
        """b = Lambda u."""
        cdef Py_ssize_t j = 0, c, s, k
        cdef double *T
        cdef double acc
        while j < self.q:
            k = self.term_k[self.col_term[j]]
            T = &self.Tbuf[self.term_toff[self.col_term[j]]]
            for c in range(k):
                acc = 0.0
                for s in range(c + 1):
                    acc += T[c + s * k] * u[j + s]
                b[j + c] = acc
            j += k

    # ---- thin Python wrappers -------------------------------------------------

    def set_theta(self, theta):
        """Install theta: Lambda and the matrix Lambda' Z'WZ Lambda."""
        cdef const double[::1] th = self._check_theta(theta)
        with nogil:
            self.fill_T(&th[0])
            self.update_A()
        return self

    def update(self):
        """Refactor for the installed theta; returns the status (0 = success)."""
        cdef int st
        with nogil:
            st = self.update_L()
        return st

    def objective(self, theta, bint reml=True):
        """Profiled REML criterion (reml=True) or -2 log-likelihood at theta."""
        cdef const double[::1] th = self._check_theta(theta)
        cdef double val
        with nogil:
            self.evaluate_nogil(&th[0])
            val = self.objective_value(reml)
        return val

    def _check_theta(self, theta):
        if type(theta) is np.ndarray and theta.dtype == np.float64 and theta.ndim == 1 \
                and theta.shape[0] == self.ntheta > 0 and theta.flags.c_contiguous:
            return theta           # the optimizer's own array: read only, no copy needed
        th = np.array(theta, dtype=np.float64, copy=True)
        if th.ndim != 1 or th.shape[0] != self.ntheta:
            raise ValueError(f"theta must have length {self.ntheta}, got shape {th.shape}")
        if self.ntheta == 0:
            th = np.zeros(1)
        return th

    def set_crossprods(self, ztz, ZtXy, XytXy):
        """Replace the weighted cross-products (same pattern), e.g. for a new response."""
        # typed sources: `memoryview[:] = ndarray` would be read as a scalar broadcast
        cdef double[::1] z = np.ascontiguousarray(ztz, dtype=np.float64)
        cdef double[::1, :] a = np.asfortranarray(ZtXy, dtype=np.float64)
        cdef double[::1, :] b = np.asfortranarray(XytXy, dtype=np.float64)
        self.ztz[:] = z
        self.ZtXy[:, :] = a
        self.XytXy[:, :] = b

    def Lambdat_apply(self, v, bint transpose=False):
        """Lambda v (or Lambda' v when transpose) for v of length q or shape (q, k)."""
        x = np.array(v, dtype=np.float64, order="F")
        vec = x.ndim == 1
        if vec:
            x = x[:, None]
        out = np.zeros_like(x, order="F")
        cdef double[::1, :] xv = x
        cdef double[::1, :] ov = out
        cdef Py_ssize_t j = 0, c, s, k, col, ncol = x.shape[1]
        cdef double *T
        cdef double acc
        if x.shape[0] != self.q:
            raise ValueError("length must be q")
        with nogil:
            while j < self.q:
                k = self.term_k[self.col_term[j]]
                T = &self.Tbuf[self.term_toff[self.col_term[j]]]
                for col in range(ncol):
                    for c in range(k):
                        acc = 0.0
                        if transpose:
                            for s in range(c, k):
                                acc += T[s + c * k] * xv[j + s, col]
                        else:
                            for s in range(c + 1):
                                acc += T[c + s * k] * xv[j + s, col]
                        ov[j + c, col] = acc
                j += k
        return out[:, 0] if vec else out

    def solve_fixed(self):
        """beta from R_X beta = c_beta (after update)."""
        from scipy.linalg import solve_triangular
        U = np.asarray(self.U)
        p = self.p
        if p == 0:
            return np.zeros(0)
        return solve_triangular(U[:p, :p], U[:p, p], lower=False)

    @property
    def RX(self):
        """Upper-triangular R_X (p x p) with R_X' R_X = X'WX - R_ZX' R_ZX."""
        return np.triu(np.asarray(self.U)[:self.p, :self.p]).copy()

    @property
    def RZX(self):
        return np.asarray(self.RZXy)[:, :self.p].copy()

    def solve_u(self, beta):
        """Spherical random effects u = P' L^-T (c_u - R_ZX beta)."""
        b = np.ascontiguousarray(beta, dtype=np.float64)
        R = np.asarray(self.RZXy)
        v = R[:, self.p] - R[:, :self.p] @ b
        return self._solve(v, "bwd")

    def solve_A(self, B):
        """Solve (Lambda' Z'WZ Lambda + I) X = B for dense B (q,) or (q, k)."""
        return self._solve(B, "A")

    def solve_L(self, B):
        """L^-1 P B for dense B (q,) or (q, k)."""
        return self._solve(B, "fwd")

    def _solve(self, B, system):
        x = np.array(B, dtype=np.float64, order="F")
        vec = x.ndim == 1
        if vec:
            x = x[:, None]
        if x.shape[0] != self.q:
            raise ValueError("right-hand side must have q rows")
        if self.status != 0:
            raise RuntimeError("no valid factorization: the last update failed")
        if self.q == 0 or x.shape[1] == 0:
            return x[:, 0] if vec else x
        cdef double[::1, :] xv = x
        cdef int st = 0
        cdef Py_ssize_t ncol = x.shape[1]
        cdef bint fwd = system in ("fwd", "A"), bwd = system in ("bwd", "A")
        cdef int saved[4]
        with nogil:
            blas_single(saved)
            if fwd:
                st = self.solve_fwd(&xv[0, 0], ncol)
            if st == 0 and bwd:
                st = self.solve_bwd(&xv[0, 0], ncol)
            blas_restore(saved)
        if st != 0:
            raise RuntimeError(f"CHOLMOD solve failed (status {self.c.status})")
        return x[:, 0] if vec else x

