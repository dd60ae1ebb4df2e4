# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The gradient of the joint Laplace objective (_tmb_joint_laplace.pyx: random effects in
the conditional and the zero-inflation model) in all fixed parameters.

At the mode u^ of P(u) = -sum_i w_i l_i(eta_c, eta_z) + ||u||^2 / 2, with
eta = F + A u (F the fixed parts, A = Z Lambda; row i of A as the 2 x q matrix a_i,
one row per component), the objective F(psi) = 2 P(u^) + log|H|, H = I + sum a_i' W_i a_i,
has by the envelope theorem the derivative

    dF/dpsi = 2 dP/dpsi|_u + d log|H|/dpsi|_u - r' d(grad_u P)/dpsi,

with ONE solve H r = d log|H| / du = sum_i a_i' v_i, v_i[m] = tr(S_i dW_i/deta_m),
S_i = a_i H^-1 a_i' (2 x 2), dW_i/deta_m = -w_i (third derivatives of l_i, a 2 x 2 x 2
tensor: :func:`pymer._core._tmb_joint.joint_obs3`). With g_i = w_i dl_i/deta,
rho_i = a_i r and c_i = -2 g_i + v_i - W_i rho_i (2-vectors):

    dF/dbeta_m  = X_m' c_m          (m: conditional, zero-inflation)
    dF/dgamma   = sum_i x_i (-2 w_i dl_i/dA + tr(S_i dW_i/dA) + rho_i' dg_i/dA)
                  (A = log phi, the dispersion model; the tweedie psi)
    dF/dtheta   = sum_i [c_i' (E_i u^) + g_i' (E_i r) + 2 tr(W_i a_i H^-1 E_i')],

E = dA/dtheta (for T[r, c] of a term: the term's column r of Z at its column c's
entry). H^-1 comes dense from the factor of H at the mode (LAPACK dpotri); the
partial derivatives in A are central differences (:func:`joint_obs_aux`).
Everything after the allocations runs without the GIL, on one BLAS thread.
"""
import numpy as np
from libc.math cimport isfinite
from libc.stdint cimport int64_t
from scipy.linalg.cython_lapack cimport dpotri, dpotrs
from pymer._core._pls cimport blas_single, blas_restore
from pymer._core._tmb_joint cimport joint_obs3, joint_obs_aux
from pymer._core._tmb_joint_laplace cimport JointCore


cdef int _gradient(JointCore core, double *Hi, const double *X, Py_ssize_t p, const double *Xz,
                   Py_ssize_t pz, const double *Xd, Py_ssize_t pd, bint tweedie, double *work,
                   double *out) noexcept nogil:
    cdef Py_ssize_t n = core.n, q = core.q, K = core.K, i, a, b, j, t, c, r, k, o
    cdef int qi = <int> q, one = 1, info = 0
    cdef char lo = b'L'
    # work: n x 3 S, n x 2 v, n x 2 c, n x 2 rho, n x K P, q lr, 2 K Q
    cdef double *S = work
    cdef double *v = S + 3 * n
    cdef double *cc = v + 2 * n
    cdef double *rho = cc + 2 * n
    cdef double *P = rho + 2 * n
    cdef double *lr = P + n * K
    cdef double *Q = lr + q
    cdef double l3[4]
    cdef double ax[6]
    cdef double w, acc, val, W0, W1, W2
    cdef int m, m2
    # H^-1 from the factor of H + I at the mode: dpotri leaves the column-major lower
    # triangle (the C array's upper), mirrored below
    for a in range(q):
        for b in range(a, q):
            Hi[a * q + b] = core.F[a, b]
    dpotri(&lo, &qi, Hi, &qi, &info)
    if info != 0:
        return 2
    for a in range(q):
        for b in range(a + 1, q):
            Hi[b * q + a] = Hi[a * q + b]
    for a in range(q):
        lr[a] = 0.0
    for i in range(n):
        # Q[m', b] = sum over the entries a of component m' of A[i, a] H^-1[col a, col b]
        for b in range(K):
            Q[b] = 0.0
            Q[K + b] = 0.0
            for a in range(K):
                Q[core.comp[a] * K + b] += core.vals[i, a] * Hi[core.cols[i, a] * q + core.cols[i, b]]
        S[3 * i] = 0.0
        S[3 * i + 1] = 0.0
        S[3 * i + 2] = 0.0
        for b in range(K):
            if core.comp[b] == 0:
                S[3 * i] += core.vals[i, b] * Q[b]             # cc
                S[3 * i + 2] += core.vals[i, b] * Q[K + b]     # cz
            else:
                S[3 * i + 1] += core.vals[i, b] * Q[K + b]     # zz
        # P[i, b] = (W_i Q)[comp b, b]: the trace term of theta
        W0, W1, W2 = core.Wd[i, 0], core.Wd[i, 1], core.Wd[i, 2]
        for b in range(K):
            if core.comp[b] == 0:
                P[i * K + b] = W0 * Q[b] + W2 * Q[K + b]
            else:
                P[i * K + b] = W2 * Q[b] + W1 * Q[K + b]
        if joint_obs3(core.family, core.link, core.trunc, core.has_zi, core.y[i], core.size[i], core.etac[i],
                      core.etaz[i], core.cst[i], core.cst0[i], core.phi[i], core.power, l3) != 0:
            return 1
        w = core.pw[i]
        v[2 * i] = -w * (S[3 * i] * l3[0] + 2.0 * S[3 * i + 2] * l3[1] + S[3 * i + 1] * l3[2])
        v[2 * i + 1] = -w * (S[3 * i] * l3[1] + 2.0 * S[3 * i + 2] * l3[2] + S[3 * i + 1] * l3[3])
        for a in range(K):
            lr[core.cols[i, a]] += core.vals[i, a] * v[2 * i + core.comp[a]]
    # r = H^-1 A'v
    dpotrs(&lo, &qi, &one, &core.F[0, 0], &qi, lr, &qi, &info)
    if info != 0:
        return 2
    for i in range(n):
        rho[2 * i] = 0.0
        rho[2 * i + 1] = 0.0
        for a in range(K):
            rho[2 * i + core.comp[a]] += core.vals[i, a] * lr[core.cols[i, a]]
        W0, W1, W2 = core.Wd[i, 0], core.Wd[i, 1], core.Wd[i, 2]
        cc[2 * i] = -2.0 * core.gd[i, 0] + v[2 * i] - (W0 * rho[2 * i] + W2 * rho[2 * i + 1])
        cc[2 * i + 1] = -2.0 * core.gd[i, 1] + v[2 * i + 1] - (W2 * rho[2 * i] + W1 * rho[2 * i + 1])
    o = 0
    for j in range(p):
        acc = 0.0
        for i in range(n):
            acc += X[i * p + j] * cc[2 * i]
        out[o] = acc
        o += 1
    for j in range(pz):
        acc = 0.0
        for i in range(n):
            acc += Xz[i * pz + j] * cc[2 * i + 1]
        out[o] = acc
        o += 1
    for j in range(pd):
        out[o + j] = 0.0
    if pd:
        for i in range(n):
            if joint_obs_aux(1, core.family, core.link, core.trunc, core.has_zi, core.y[i], core.size[i],
                             core.etac[i], core.etaz[i], core.phi[i], core.power, ax) != 0:
                return 1
            val = core.pw[i] * (-2.0 * ax[0] + S[3 * i] * ax[3] + S[3 * i + 1] * ax[4]
                                + 2.0 * S[3 * i + 2] * ax[5] + rho[2 * i] * ax[1] + rho[2 * i + 1] * ax[2])
            for j in range(pd):
                out[o + j] += Xd[i * pd + j] * val
    o += pd
    # theta: T[r, c] of each term, lme4's order (column by column of the lower triangle)
    for t in range(core.nterms):
        k = core.term_k[t]
        for c in range(k):
            b = core.term_slot[t] + c
            m = core.comp[b]
            for r in range(c, k):
                acc = 0.0
                for i in range(n):
                    j = core.cols[i, b]
                    acc += core.zx[i, core.term_slot[t] + r] * (
                        cc[2 * i + m] * core.u[j] + core.gd[i, m] * lr[j] + 2.0 * P[i * K + b])
                out[o] = acc
                o += 1
    if tweedie:
        acc = 0.0
        for i in range(n):
            if joint_obs_aux(2, core.family, core.link, core.trunc, core.has_zi, core.y[i], core.size[i],
                             core.etac[i], core.etaz[i], core.phi[i], core.power, ax) != 0:
                return 1
            acc += core.pw[i] * (-2.0 * ax[0] + S[3 * i] * ax[3] + S[3 * i + 1] * ax[4]
                                 + 2.0 * S[3 * i + 2] * ax[5] + rho[2 * i] * ax[1] + rho[2 * i + 1] * ax[2])
        out[o] = acc
        o += 1
    for j in range(o):
        if not isfinite(out[j]):
            return 4
    return 0


def joint_gradient(JointCore core, X, Xzi, Xd, bint tweedie=False):
    """The gradient of -2 log L (the joint Laplace approximation) at the state of ``core``
    after a finite ``core.laplace()``.

    Parameters
    ----------
    core : JointCore
        At the mode, its factor of H there.
    X, Xzi, Xd : (n, p), (n, pz), (n, pd) C-contiguous arrays
        Conditional, zero-inflation and dispersion fixed-effects designs.
    tweedie : bool
        Whether the last parameter is the tweedie psi (power = 1 + plogis(psi)).

    Returns
    -------
    numpy.ndarray or None
        (beta, betazi, betad, theta[, psi]) on the natural scale; None where a
        derivative is not finite or H^-1 cannot be formed.
    """
    cdef const double[:, ::1] Xv = X
    cdef const double[:, ::1] Zv = Xzi
    cdef const double[:, ::1] Dv = Xd
    cdef Py_ssize_t n = core.n, q = core.q, K = core.K
    cdef Py_ssize_t p = Xv.shape[1], pz = Zv.shape[1], pd = Dv.shape[1]
    if Xv.shape[0] != n or Zv.shape[0] != n or Dv.shape[0] != n:
        raise ValueError(f"X, Xzi and Xd need {n} rows")
    if q == 0:
        raise ValueError("no random effects")
    cdef double[::1] Hi = np.empty(q * q)
    cdef double[::1] work = np.empty(n * (9 + K) + q + 2 * K + 1)
    cdef double[::1] out = np.empty(p + pz + pd + core.ntheta + (1 if tweedie else 0))
    cdef const double *xp = &Xv[0, 0] if p else NULL
    cdef const double *zp = &Zv[0, 0] if pz else NULL
    cdef const double *dp = &Dv[0, 0] if pd else NULL
    cdef int st
    cdef int saved[4]
    with nogil:
        blas_single(saved)
        st = _gradient(core, &Hi[0], xp, p, zp, pz, dp, pd, tweedie, &work[0], &out[0])
        blas_restore(saved)
    if st != 0:
        return None
    return np.asarray(out)
