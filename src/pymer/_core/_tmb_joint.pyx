# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-observation terms of glmmTMB's models with random effects in more than one
component (the conditional model and the zero-inflation model).

The random effects of all components form one vector u (b = Lambda u, u ~ N(0, I));
row i of A = Z Lambda has K entries, each belonging to one component's linear
predictor (``comp``: 0 conditional, 1 zero-inflation). The log-density of
observation i depends on eta_c (conditional) and eta_z (logit of the
structural-zero probability):

    zero-inflated, y = 0:   log(pz + (1 - pz) f(0 | eta_c))
    zero-inflated, y > 0:   log(1 - pz) + log f(y | eta_c)
    hurdle (truncated family): log pz at y = 0, log(1 - pz) + log f_trunc(y | eta_c) else

The family's log-density f and its derivatives in eta_c come from the
single-component core (:mod:`pymer._core._tmb`'s ``obs_ll`` without zero inflation);
this module adds the zero-inflation part, its derivatives in eta_z and the cross
derivative, and accumulates the gradient A'g and the dense Hessian A'HA (H the 2 x 2
per-observation block of -second derivatives) for the Newton steps of the mode.
"""
import numpy as np
from libc.math cimport log, log1p, exp, INFINITY, isfinite
from libc.stdint cimport int64_t
from pymer._core._tmb cimport obs_ll, obs_const


cdef inline double log1pexp(double x) noexcept nogil:
    if x > 35.0:
        return x
    return log1p(exp(x))


cdef double joint_obs(int fam, int link, bint trunc, bint has_zi, double y, double N, double etac,
                      double etaz, double cst, double cst0, double phi, double power,
                      double *gc, double *gz, double *hcc, double *hzz, double *hcz) noexcept nogil:
    """log f(y_i), its first derivatives in (eta_c, eta_z) and minus its second
    derivatives (hcc, hzz, hcz); without ``has_zi`` the family's alone (eta_z unused)."""
    cdef double lpz, lq, pz, qz
    cdef double l, d1, d2, a2, ll, r
    if not has_zi:
        l = obs_ll(fam, link, trunc, False, y, N, etac, -INFINITY, 0.0, cst, cst0, phi, power, &d1, &d2)
        gc[0] = d1; hcc[0] = d2
        gz[0] = 0.0; hzz[0] = 0.0; hcz[0] = 0.0
        return l
    lpz = -log1pexp(-etaz)
    lq = -log1pexp(etaz)
    pz = exp(lpz)
    qz = exp(lq)
    if trunc and y == 0:
        gc[0] = 0.0; hcc[0] = 0.0; hcz[0] = 0.0
        gz[0] = qz
        hzz[0] = pz * qz
        return lpz
    l = obs_ll(fam, link, trunc, False, y, N, etac, -INFINITY, 0.0, cst, cst0, phi, power, &d1, &d2)
    if y != 0 or trunc:
        gc[0] = d1; hcc[0] = d2; hcz[0] = 0.0
        gz[0] = -pz
        hzz[0] = pz * qz
        return lq + l
    # y = 0, zero-inflated: log(e^lpz + e^(lq + l)), r the weight of the count part
    a2 = lq + l
    if lpz > a2:
        ll = lpz + log1p(exp(a2 - lpz))
    else:
        ll = a2 + log1p(exp(lpz - a2))
    r = exp(a2 - ll)
    gc[0] = r * d1
    hcc[0] = r * d2 - r * (1.0 - r) * d1 * d1
    gz[0] = 1.0 - r - pz
    hzz[0] = pz * qz - r * (1.0 - r)
    hcz[0] = r * (1.0 - r) * d1
    return ll


def joint_constants(int fam, bint trunc, const double[::1] y, const double[::1] N,
                    const double[::1] phi, double power, double[::1] cst, double[::1] cst0):
    """The parts of the family's log-density that depend on neither linear predictor."""
    cdef Py_ssize_t i, n = y.shape[0]
    cdef double lpz, lq
    with nogil:
        for i in range(n):
            obs_const(fam, trunc, False, y[i], N[i], 0.0, phi[i], power, &lpz, &lq, &cst[i], &cst0[i])


def joint_obs_terms(int fam, int link, bint trunc, y, N, etac, etaz, phi, double power=1.5,
                    bint has_zi=True):
    """(6, n): log f, d/d eta_c, d/d eta_z, -d2/d eta_c2, -d2/d eta_z2, -d2/d eta_c d eta_z
    per observation (for tests and results)."""
    yv = np.ascontiguousarray(y, dtype=np.float64)
    cdef Py_ssize_t n = yv.shape[0], i
    Nv = np.broadcast_to(np.asarray(N, dtype=np.float64), (n,)).copy()
    ev = np.broadcast_to(np.asarray(etac, dtype=np.float64), (n,)).copy()
    zv = np.broadcast_to(np.asarray(etaz, dtype=np.float64), (n,)).copy()
    pv = np.broadcast_to(np.asarray(phi, dtype=np.float64), (n,)).copy()
    c, c0 = np.empty(n), np.empty(n)
    joint_constants(fam, trunc, yv, Nv, pv, power, c, c0)
    out = np.empty((6, n))
    cdef double[::1] yy = yv, NN = Nv, ee = ev, zz = zv, pp = pv, cc = c, cc0 = c0
    cdef double[:, ::1] o = out
    with nogil:
        for i in range(n):
            o[0, i] = joint_obs(fam, link, trunc, has_zi, yy[i], NN[i], ee[i], zz[i], cc[i], cc0[i], pp[i], power,
                                &o[1, i], &o[2, i], &o[3, i], &o[4, i], &o[5, i])
    return out


def joint_evaluate(int fam, int link, bint trunc, bint has_zi, const double[::1] y, const double[::1] N,
                   const double[::1] pw, const double[::1] cst, const double[::1] cst0,
                   const double[::1] phi, double power, const double[::1] fixc, const double[::1] fixz,
                   const int64_t[:, ::1] cols, const double[:, ::1] vals, const int[::1] comp,
                   const double[::1] u, double[::1] etac, double[::1] etaz, double[::1] grad,
                   double[:, ::1] H, bint want_derivs):
    """The weighted log-likelihood sum w_i log f(y_i) at u; with ``want_derivs`` also
    its gradient in u (A'g, into ``grad``) and minus its Hessian (A'HA, into ``H``,
    both triangles). eta_c and eta_z are left in ``etac``, ``etaz``. Returns -inf
    off the family's domain."""
    cdef Py_ssize_t i, a, b, n = y.shape[0], K = cols.shape[1], q = u.shape[0]
    cdef double ec, ez, li, ll = 0.0, w, va
    cdef double g[2]
    cdef double h[2][2]
    if want_derivs and (grad.shape[0] != q or H.shape[0] != q or H.shape[1] != q):
        raise ValueError(f"grad and H need {q} rows")
    with nogil:
        if want_derivs:
            for a in range(q):
                grad[a] = 0.0
                for b in range(q):
                    H[a, b] = 0.0
        for i in range(n):
            ec = fixc[i]
            ez = fixz[i]
            for a in range(K):
                if comp[a] == 0:
                    ec += vals[i, a] * u[cols[i, a]]
                else:
                    ez += vals[i, a] * u[cols[i, a]]
            etac[i] = ec
            etaz[i] = ez
            li = joint_obs(fam, link, trunc, has_zi, y[i], N[i], ec, ez, cst[i], cst0[i], phi[i], power,
                           &g[0], &g[1], &h[0][0], &h[1][1], &h[0][1])
            w = pw[i]
            ll += w * li
            if not want_derivs:
                continue
            h[1][0] = h[0][1]
            for a in range(K):
                va = w * vals[i, a]
                grad[cols[i, a]] += va * g[comp[a]]
                for b in range(K):
                    H[cols[i, a], cols[i, b]] += va * vals[i, b] * h[comp[a]][comp[b]]
    if not isfinite(ll):
        return -INFINITY
    return ll
