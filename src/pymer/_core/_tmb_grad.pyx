# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The gradient of glmmTMB's Laplace objective (_tmb.pyx) in all fixed parameters.

At the mode u^ of the penalized log-density, the objective

    F(psi) = -2 sum_i w_i l_i(eta_i) + ||u^||^2 + log|H|,   H = Lambda'Z'DZ Lambda + I,

(eta = fixed + Z Lambda u^, D_i = -w_i d2 l_i / d eta_i^2) has, by the envelope
theorem, the derivative

    dF/dpsi = dF/dpsi|_u  +  (d log|H| / du)' du^/dpsi,
    du^/dpsi = -H^-1 d2 pen / du dpsi,

so the implicit part is -r' (d2 pen / du dpsi) with ONE solve H r = d log|H| / du
= Lambda'Z' v, v_i = s_i dD_i/deta_i, s_i = z_i'Lambda H^-1 Lambda' z_i (the
diagonal level blocks of H^-1, from the selected inversion of _selinv.pyx). The
direct derivative of log|H| is tr(H^-1 dH/dpsi): through D for the conditional
fixed effects (sum v_i x_i), the zero-inflation and dispersion predictors (sum
s_i dD_i/dA_i), and for theta through Lambda as well, where
tr(H^-1 Lambda'Z'DZ dLambda) = tr((I - H^-1) Lambda^-1 dLambda) needs the same
diagonal blocks. With more than one random-effects term a row meets columns of
several terms, and s_i needs H^-1 on the pattern of Z'Z (_selinv.pyx: the
Takahashi recurrences on CHOLMOD's factor, or the blocked factorization's
S^-1 and its level blocks). With c = -2 g + v - D (Z Lambda r) (g_i = w_i dl_i/deta_i):

    dF/dbeta    = X'c
    dF/dgamma   = Xa'(-2 w dl/dA + s dD/dA + (Z Lambda r) dg/dA)   (A: zi, log phi, psi)
    dF/dtheta_k = (Z'c)' dLambda_k u^ + (Z'g)' dLambda_k r + 2 tr((I - H^-1) Lambda^-1 dLambda_k)

The per-observation third derivative of the log-density in eta (for dD/deta) is in
closed form (_tmb_obs.pyx, every family, truncation and zero inflation), as are its
log-dispersion partials for gaussian, Gamma, nbinom1, nbinom2 (truncated or not) and
tweedie, the tweedie power's and the zero-inflation predictor's (constants except at a
zero of a zero-inflated model); the other families' dispersion partials are central
differences of _tmb.pyx's compiled density (to ~1e-9 relative). Everything after the
allocations runs without the GIL.
"""
import numpy as np
from libc.math cimport exp, fabs, fmax, isfinite, log1p
from libc.stdint cimport int64_t
from pymer._core._pls cimport PLS, blas_single, blas_restore
from pymer._core._tmb cimport TMBLaplace, obs_ll, obs_const, tweedie_logw
from pymer._core._zwz cimport sorted_position
from pymer._core._tmb_obs cimport obs_partials

# central differences (error ~h^2 f'''/6, ~1e-9 relative at h = 1e-4; rounding ~1e-12)
cdef double[2] STENCIL_AT = [-1.0, 1.0]
cdef double[2] STENCIL_W = [-1.0, 1.0]
cdef double STEP = 1e-4


cdef enum:
    NSLOT = 64

cdef struct ConstCache:
    # base_const at the two stencil points for one (y, N, phi), in a direct-mapped cache
    # on whole y: the constants repeat over equal counts (and for tweedie are a series each)
    bint valid
    double y, N, phi
    double cst[2]
    double cst0[2]


cdef struct SeriesCache:
    # the tweedie series' derivatives (log phi, power) at one (y, phi), on whole y
    bint valid
    double y, phi
    double w[2]


cdef inline double expit(double x) noexcept nogil:
    return 1.0 / (1.0 + exp(-x))


cdef inline double zi_partial(TMBLaplace lap, Py_ssize_t i) noexcept nogil:
    """w_i d l_i / d etaz where l_i is log(1 - pz) (a non-zero count, a hurdle's positive
    count) or log pz (a hurdle's zero) plus a term free of etaz (g_i and D_i are free of it)."""
    return lap.pw[i] * ((1.0 - expit(lap.etaz[i])) if (lap.trunc and lap.y[i] == 0.0)
                        else -expit(lap.etaz[i]))


cdef int aux_partials(TMBLaplace lap, Py_ssize_t i, ConstCache *cache, double *la, double *ga,
                      double *Da) noexcept nogil:
    """w_i d/dA of (l_i, g_i / w_i, D_i / w_i) for A = log phi by central differences (the
    families whose partials _tmb_obs.pyx does not write out: beta, betabinomial, genpois)."""
    cdef double h = STEP, l, d1, d2, sl = 0.0, s1 = 0.0, s2 = 0.0, x, cst, cst0, ph
    cdef double phi = lap.phi[i], power = lap.power, y = lap.y[i], N = lap.size[i]
    cdef int j
    cdef bint hit = False
    cdef ConstCache *slot = cache
    if y >= 0.0 and y < NSLOT and y == <double> (<int> y):
        slot = &cache[1 + <int> y]
    hit = slot.valid and slot.y == y and slot.N == N and slot.phi == phi
    slot.valid = True
    slot.y = y
    slot.N = N
    slot.phi = phi
    for j in range(2):
        x = STENCIL_AT[j] * h
        ph = phi * exp(x)
        if not hit:
            obs_const(lap.family, lap.trunc, lap.has_zi, y, N, lap.etaz[i], ph, power, &d1, &d2,
                      &slot.cst[j], &slot.cst0[j])
        cst = slot.cst[j]
        cst0 = slot.cst0[j]
        l = obs_ll(lap.family, lap.link, lap.trunc, lap.has_zi, y, N, lap.eta[i], lap.lpz[i], lap.lq[i],
                   cst, cst0, ph, power, &d1, &d2)
        sl += STENCIL_W[j] * l
        s1 += STENCIL_W[j] * d1
        s2 += STENCIL_W[j] * d2
    la[0] = lap.pw[i] * sl / (2.0 * h)
    ga[0] = lap.pw[i] * s1 / (2.0 * h)
    Da[0] = lap.pw[i] * s2 / (2.0 * h)
    if not (isfinite(la[0]) and isfinite(ga[0]) and isfinite(Da[0])):
        return 1
    return 0


cdef void lambda_t_apply(PLS pls, const double *x, double *y) noexcept nogil:
    """y = Lambda' x."""
    cdef Py_ssize_t j = 0, c, a, k
    cdef double *T
    cdef double acc
    while j < pls.q:
        k = pls.term_k[pls.col_term[j]]
        T = &pls.Tbuf[pls.term_toff[pls.col_term[j]]]
        for c in range(k):
            acc = 0.0
            for a in range(c, k):
                acc += T[a + c * k] * x[j + a]
            y[j + c] = acc
        j += k


cdef int lower_inverse(const double *T, Py_ssize_t k, double *Ti) noexcept nogil:
    """Ti = T^-1 for T lower triangular (k x k, column-major)."""
    cdef Py_ssize_t r, c, s
    cdef double acc
    for c in range(k):
        for r in range(k):
            Ti[r + c * k] = 0.0
    for c in range(k):
        if T[c + c * k] == 0.0:
            return 1
        Ti[c + c * k] = 1.0 / T[c + c * k]
        for r in range(c + 1, k):
            acc = 0.0
            for s in range(c, r):
                acc += T[r + s * k] * Ti[s + c * k]
            Ti[r + c * k] = -acc / T[r + r * k]
    return 0


cdef int _gradient(TMBLaplace lap, PLS pls, const double *hinv, bint pattern, const double *X,
                   Py_ssize_t p,
                   const double *Xzi, Py_ssize_t pz, const double *Xd, Py_ssize_t pd, bint tweedie,
                   double psi, double *work, double *out) noexcept nogil:
    cdef Py_ssize_t n = lap.n, q = lap.q, K = lap.K, i, a, c, c2, j, t, k, lev, nlev, o, idx, kk
    cdef Py_ssize_t r_, c_, base, a0, j2, pp
    cdef const int64_t *zp = &lap.zpos[0, 0]
    cdef const double *zv = &lap.zvals[0, 0]
    cdef const int64_t *zc = &lap.zcols[0, 0]
    # work: n-vectors s, Dp, cc, wr, then 3 x (la, ga, Da); q-vectors rhs, r, lr, Zc, Zg
    cdef double *s = work
    cdef double *Dp = work + n
    cdef double *cc = work + 2 * n
    cdef double *wr = work + 3 * n
    cdef double *aux = work + 4 * n
    cdef double *rhs = work + 13 * n
    cdef double *r = rhs + q
    cdef double *lr = r + q
    cdef double *Zc = lr + q
    cdef double *Zg = Zc + q
    cdef double *small = Zg + q          # wz (K), Ti, S, ST (3 k^2)
    cdef double *T
    cdef double *B
    cdef const double *Bc
    cdef double acc, val, e3
    cdef double zpart[3]
    cdef double apart[3]
    cdef double ppart[3]
    cdef int st
    cdef int saved[4]
    cdef bint has_disp = pd > 0
    cdef ConstCache cdisp[NSLOT + 1]       # slot 0: the previous observation's (y, N, phi)
    cdef SeriesCache cser[NSLOT + 1]
    cdef double wser[2]
    cdef SeriesCache *sc
    for j in range(NSLOT + 1):
        cdisp[j].valid = False
        cser[j].valid = False
    wser[0] = 0.0
    wser[1] = 0.0
    for i in range(n):
        if tweedie and lap.y[i] > 0.0:
            # the tweedie series' derivatives, once per whole y (and phi)
            sc = &cser[0]
            if lap.y[i] < NSLOT and lap.y[i] == <double> (<int> lap.y[i]):
                sc = &cser[1 + <int> lap.y[i]]
            if not (sc.valid and sc.y == lap.y[i] and sc.phi == lap.phi[i]):
                tweedie_logw(lap.y[i], lap.phi[i], lap.power, &sc.w[0], &sc.w[1])
                sc.valid = True
                sc.y = lap.y[i]
                sc.phi = lap.phi[i]
            wser[0] = sc.w[0]
            wser[1] = sc.w[1]
        # dD/deta, the zero-inflation (at a zero), tweedie power and (where written out)
        # log-dispersion partials in closed form
        st = obs_partials(lap.family, lap.link, lap.trunc, lap.has_zi, lap.y[i], lap.size[i],
                          lap.eta[i], lap.lpz[i], lap.lq[i], lap.cst[i], lap.cst0[i], lap.phi[i],
                          lap.power, has_disp, wser, &e3, apart, zpart, ppart)
        if st == 2:
            return 1
        Dp[i] = -lap.pw[i] * e3
        if has_disp:
            if st == 0:
                for c in range(3):
                    aux[(3 + c) * n + i] = lap.pw[i] * apart[c]
            elif aux_partials(lap, i, cdisp, &aux[3 * n + i], &aux[4 * n + i], &aux[5 * n + i]):
                return 1
        if lap.has_zi:
            if not lap.trunc and lap.y[i] == 0.0:
                for c in range(3):
                    aux[c * n + i] = lap.pw[i] * zpart[c]
            else:
                aux[i] = zi_partial(lap, i)
                aux[n + i] = 0.0
                aux[2 * n + i] = 0.0
        if tweedie:
            for c in range(3):
                aux[(6 + c) * n + i] = lap.pw[i] * ppart[c]
    # s_i = z_i' Lambda H^-1 Lambda' z_i: w = Lambda' z_i term by term, then w' H^-1 w on
    # the pairs of columns the row meets (one term: its level's diagonal block)
    for i in range(n):
        a0 = 0
        for t in range(pls.nterms):
            k = pls.term_k[t]
            T = &pls.Tbuf[pls.term_toff[t]]
            for c in range(k):
                acc = 0.0
                for a in range(c, k):
                    acc += T[a + c * k] * zv[i * K + a0 + a]
                small[a0 + c] = acc
            a0 += k
        acc = 0.0
        if pattern:
            for c in range(K):
                for c2 in range(K):
                    acc += small[c] * small[c2] * hinv[zp[i * K * K + c2 * K + c]]
        else:
            Bc = &hinv[(zc[i * K] // K) * K * K]
            for c in range(K):
                for c2 in range(K):
                    acc += small[c] * small[c2] * Bc[c + c2 * K]
        s[i] = acc
    # r = H^-1 Lambda'Z' v, v = s Dp
    for j in range(q):
        lr[j] = 0.0
        Zg[j] = 0.0
    for i in range(n):
        for a in range(K):
            lr[zc[i * K + a]] += zv[i * K + a] * s[i] * Dp[i]
            Zg[zc[i * K + a]] += zv[i * K + a] * lap.g[i]
    lambda_t_apply(pls, lr, r)
    blas_single(saved)
    st = pls.solve_fwd(r, 1)
    if st == 0:
        st = pls.solve_bwd(r, 1)
    blas_restore(saved)
    if st != 0:
        return 2
    pls.lambda_apply_nogil(r, lr)
    for j in range(q):
        Zc[j] = 0.0
    for i in range(n):
        acc = 0.0
        for a in range(K):
            acc += zv[i * K + a] * lr[zc[i * K + a]]
        wr[i] = acc
        cc[i] = -2.0 * lap.g[i] + s[i] * Dp[i] - lap.h[i] * acc
        for a in range(K):
            Zc[zc[i * K + a]] += zv[i * K + a] * cc[i]
    o = 0
    for j in range(p):
        acc = 0.0
        for i in range(n):
            acc += X[i + j * n] * cc[i]
        out[o] = acc
        o += 1
    for j in range(pz):
        acc = 0.0
        for i in range(n):
            acc += Xzi[i * pz + j] * (-2.0 * aux[i] + s[i] * aux[2 * n + i] + wr[i] * aux[n + i])
        out[o] = acc
        o += 1
    for j in range(pd):
        acc = 0.0
        for i in range(n):
            acc += Xd[i * pd + j] * (-2.0 * aux[3 * n + i] + s[i] * aux[5 * n + i]
                                     + wr[i] * aux[4 * n + i])
        out[o] = acc
        o += 1
    # theta, term by term: lme4's order of each T's lower triangle, by columns
    base = 0
    idx = 0
    j = 0
    for t in range(pls.nterms):
        k = pls.term_k[t]
        T = &pls.Tbuf[pls.term_toff[t]]
        nlev = 0
        while j < q and pls.col_term[j] == t:
            nlev += 1
            j += k
        if lower_inverse(T, k, small) != 0:
            return 3
        B = small + k * k                       # S = sum of the term's level blocks
        for c in range(k * k):
            B[c] = 0.0
        for lev in range(nlev):
            kk = base + lev * k
            for c in range(k * k):
                if not pattern:
                    B[c] += hinv[idx + lev * k * k + c]
                    continue
                # H^-1[kk + c % k, kk + c // k] in column kk + c // k of the pattern
                j2 = kk + c // k
                pp = sorted_position(&pls.rowind[0], pls.colptr[j2], pls.colptr[j2 + 1] - 1,
                                     kk + c % k)
                if pls.rowind[pp] != kk + c % k:
                    return 5
                B[c] += hinv[pp]
        for c_ in range(k):
            for r_ in range(c_, k):
                acc = 0.0
                for lev in range(nlev):
                    kk = base + lev * k
                    acc += Zc[kk + r_] * lap.u[kk + c_] + Zg[kk + r_] * r[kk + c_]
                # (S T^-1)[c_, r_]
                val = 0.0
                for a in range(k):
                    val += B[c_ + a * k] * small[a + r_ * k]
                out[o] = acc + 2.0 * (nlev * small[c_ + r_ * k] - val)
                o += 1
        idx += nlev * k * k
        base += nlev * k
    if tweedie:
        acc = 0.0
        for i in range(n):
            acc += -2.0 * aux[6 * n + i] + s[i] * aux[8 * n + i] + wr[i] * aux[7 * n + i]
        out[o] = acc
        o += 1
    for i in range(o):
        if not isfinite(out[i]):
            return 4
    return 0


def laplace_gradient(TMBLaplace lap, const double[::1] hinv, X, Xzi, Xd, bint tweedie=False,
                     double psi=0.0, bint pattern=False):
    """The gradient of -2 log L (Laplace) at the state of ``lap`` after ``lap.laplace()``.

    Parameters
    ----------
    lap : TMBLaplace
        At the mode (beta outside it: not joint), its core holding the factor of H.
    hinv : array
        H^-1 where the gradient needs it: with one random-effects term its diagonal level
        blocks (:func:`pymer._core._selinv.diag_blocks_inverse`); with ``pattern`` its
        values on the pattern of Z'Z (:func:`pymer._core._selinv.inverse_on_pattern`).
    X, Xzi, Xd : (n, p), (n, pz), (n, pd) arrays
        Conditional, zero-inflation and dispersion fixed-effects designs.
    tweedie : bool
        Whether the last parameter is the tweedie psi (power = 1 + plogis(psi)).
    psi : float
    pattern : bool

    Returns
    -------
    numpy.ndarray or None
        (beta, betazi, betad, theta[, psi]); None where a derivative is not finite.
    """
    if lap.joint:
        raise ValueError("the analytic gradient is for the Laplace objective with beta outside the mode")
    if not pattern and lap.pls.nterms != 1:
        raise ValueError("with more than one term the gradient needs H^-1 on the pattern of Z'Z "
                         "(pattern=True), not its diagonal level blocks")
    cdef const double[::1, :] Xv = np.asfortranarray(X, dtype=np.float64)
    cdef const double[:, ::1] Zv = np.ascontiguousarray(Xzi, dtype=np.float64)
    cdef const double[:, ::1] Dv = np.ascontiguousarray(Xd, dtype=np.float64)
    cdef Py_ssize_t n = lap.n, q = lap.q, p = Xv.shape[1], pz = Zv.shape[1], pd = Dv.shape[1]
    cdef Py_ssize_t kmax = max(lap.K, 1)
    if Xv.shape[0] != n or Zv.shape[0] != n or Dv.shape[0] != n:
        raise ValueError(f"X, Xzi and Xd need {n} rows")
    if hinv.shape[0] == 0 or q == 0:
        raise ValueError("no random effects: no H^-1")
    if hinv.shape[0] < (lap.pls.rowind.shape[0] if pattern else q * lap.K):
        raise ValueError("hinv is shorter than the pattern (or the blocks) it stands for")
    cdef double[::1] work = np.zeros(13 * n + 5 * q + kmax + 3 * kmax * kmax + 1)
    cdef double[::1] out = np.zeros(p + pz + pd + lap.pls.ntheta + (1 if tweedie else 0))
    cdef const double *xp = &Xv[0, 0] if p else NULL
    cdef const double *zp = &Zv[0, 0] if pz else NULL
    cdef const double *dp = &Dv[0, 0] if pd else NULL
    cdef int st
    with nogil:
        st = _gradient(lap, lap.pls, &hinv[0], pattern, xp, p, zp, pz, dp, pd, tweedie, psi, &work[0],
                       &out[0])
    if st != 0:
        return None
    return np.asarray(out)
