# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Per-observation terms of glmmTMB's models with random effects in more than one
component (the conditional model and the zero-inflation model).

The random effects of all components form one vector u (b = Lambda u, u ~ N(0, I));
row i of A = Z Lambda has K entries, each belonging to one component's linear
predictor (0 conditional, 1 zero-inflation). The log-density of observation i
depends on eta_c (conditional) and eta_z (logit of the structural-zero
probability):

    zero-inflated, y = 0:   log(pz + (1 - pz) f(0 | eta_c))
    zero-inflated, y > 0:   log(1 - pz) + log f(y | eta_c)
    hurdle (truncated family): log pz at y = 0, log(1 - pz) + log f_trunc(y | eta_c) else

The family's log-density f and its derivatives in eta_c come from the
single-component core (:mod:`pymer._core._tmb`'s ``obs_ll`` without zero inflation);
this module adds the zero-inflation part: the derivatives in (eta_c, eta_z) up to the
second (``joint_obs``) for the Newton steps of the mode, the third (``joint_obs3``:
analytic in eta_z, the family's own third derivative in eta_c in closed form from
:mod:`pymer._core._tmb_obs`, as :mod:`pymer._core._tmb_grad` has it) and the partial derivatives of
all of them in log phi and the tweedie psi (``joint_obs_aux``, central differences)
for the gradient of log|H|. The Laplace core (:mod:`pymer._core._tmb_joint_laplace`)
and its gradient (:mod:`pymer._core._tmb_joint_grad`) call them per observation.
"""
import numpy as np
from libc.math cimport log, log1p, exp, fabs, fmax, INFINITY, isfinite
from pymer._core._tmb cimport obs_ll, obs_const, log_zero, TMB_TWEEDIE
from pymer._core._tmb import per_obs_arrays
from pymer._core._tmb_obs cimport obs_partials

# the central differences' step (error ~h^2 f^(4) / 6, ~1e-9 relative; rounding ~1e-12)
cdef double STEP = 1e-4


cdef inline double log1pexp(double x) noexcept nogil:
    if x > 35.0:
        return x
    return log1p(exp(x))


cdef inline double expit(double x) noexcept nogil:
    return 1.0 / (1.0 + exp(-x))


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
    ll = log_zero(lpz, a2)
    r = exp(a2 - ll)
    gc[0] = r * d1
    hcc[0] = r * d2 - r * (1.0 - r) * d1 * d1
    gz[0] = 1.0 - r - pz
    hzz[0] = pz * qz - r * (1.0 - r)
    hcz[0] = r * (1.0 - r) * d1
    return ll


cdef double count_third(int fam, int link, bint trunc, double y, double N, double etac, double cst,
                        double cst0, double phi, double power) noexcept nogil:
    """The third derivative in eta_c of the family's log-density (truncated for a hurdle):
    closed form (_tmb_obs.obs_partials), or for tweedie (whose closed form needs the
    series' derivatives) central differences of its second."""
    cdef double h = STEP * fmax(1.0, fabs(etac)), d1, d2p, d2m, e3
    if fam != TMB_TWEEDIE and obs_partials(fam, link, trunc, False, y, N, etac, 0.0, 0.0, cst,
                                           cst0, phi, power, False, NULL, &e3, NULL, NULL,
                                           NULL) == 0:
        return e3
    obs_ll(fam, link, trunc, False, y, N, etac + h, -INFINITY, 0.0, cst, cst0, phi, power, &d1, &d2p)
    obs_ll(fam, link, trunc, False, y, N, etac - h, -INFINITY, 0.0, cst, cst0, phi, power, &d1, &d2m)
    return -(d2p - d2m) / (2.0 * h)


cdef int joint_obs3(int fam, int link, bint trunc, bint has_zi, double y, double N, double etac,
                    double etaz, double cst, double cst0, double phi, double power,
                    double *t) noexcept nogil:
    """The third derivatives of log f(y_i) in (eta_c, eta_z): t = (l_ccc, l_ccz, l_czz,
    l_zzz). At a zero-inflated zero, with r the count part's weight (joint_obs),
    s = r (1 - r) and e1, e2, e3 the family's derivatives in eta_c:

        l_ccc = r e3 + 3 s e1 e2 + (1 - 2r) s e1^3,   l_ccz = -s e2 - (1 - 2r) s e1^2,
        l_czz = (1 - 2r) s e1,   l_zzz = -(1 - 2r) s - pz (1 - pz) (1 - 2 pz);

    elsewhere l_ccc = e3 (none at a hurdle's zero), no cross terms, and
    l_zzz = -pz (1 - pz) (1 - 2 pz). Returns 1 where a derivative is not finite."""
    cdef double lpz, lq, pz, qz, l, d1, d2, e1, e2, e3, a2, ll, r, s
    t[1] = 0.0
    t[2] = 0.0
    if not has_zi:
        t[0] = count_third(fam, link, trunc, y, N, etac, cst, cst0, phi, power)
        t[3] = 0.0
        return 0 if isfinite(t[0]) else 1
    lpz = -log1pexp(-etaz)
    lq = -log1pexp(etaz)
    pz = exp(lpz)
    qz = exp(lq)
    t[3] = -pz * qz * (1.0 - 2.0 * pz)
    if trunc and y == 0:
        t[0] = 0.0
        return 0
    e3 = count_third(fam, link, trunc, y, N, etac, cst, cst0, phi, power)
    if y != 0 or trunc:
        t[0] = e3
        return 0 if isfinite(e3) else 1
    l = obs_ll(fam, link, trunc, False, y, N, etac, -INFINITY, 0.0, cst, cst0, phi, power, &d1, &d2)
    e1 = d1
    e2 = -d2
    a2 = lq + l
    ll = log_zero(lpz, a2)
    r = exp(a2 - ll)
    s = r * (1.0 - r)
    t[0] = r * e3 + 3.0 * s * e1 * e2 + (1.0 - 2.0 * r) * s * e1 * e1 * e1
    t[1] = -s * e2 - (1.0 - 2.0 * r) * s * e1 * e1
    t[2] = (1.0 - 2.0 * r) * s * e1
    t[3] -= (1.0 - 2.0 * r) * s
    return 0 if (isfinite(t[0]) and isfinite(t[1]) and isfinite(t[2])) else 1


cdef int joint_obs_aux(int which, int fam, int link, bint trunc, bint has_zi, double y, double N,
                       double etac, double etaz, double phi, double power, double *out) noexcept nogil:
    """d/dA of joint_obs's (l, gc, gz, hcc, hzz, hcz) into out[0..5], for A = log phi
    (``which`` 1) or the tweedie psi, power = 1 + plogis(psi) (``which`` 2), by central
    differences (the family's constants at each point). Returns 1 where not finite."""
    cdef double psi = 0.0, h = STEP, ph, pw_, lpz, lq, cst, cst0, sg
    cdef double v[6]
    cdef int j, k
    if which == 2:
        psi = log((power - 1.0) / (2.0 - power))
        h = STEP * fmax(1.0, fabs(psi))
    for k in range(6):
        out[k] = 0.0
    for j in range(2):
        sg = -1.0 if j == 0 else 1.0
        ph = phi
        pw_ = power
        if which == 1:
            ph = phi * exp(sg * h)
        else:
            pw_ = 1.0 + expit(psi + sg * h)
        obs_const(fam, trunc, False, y, N, 0.0, ph, pw_, &lpz, &lq, &cst, &cst0)
        v[0] = joint_obs(fam, link, trunc, has_zi, y, N, etac, etaz, cst, cst0, ph, pw_,
                         &v[1], &v[2], &v[3], &v[4], &v[5])
        for k in range(6):
            out[k] += sg * v[k]
    for k in range(6):
        out[k] /= 2.0 * h
        if not isfinite(out[k]):
            return 1
    return 0


cdef void joint_const_run(int fam, bint trunc, const double *y, const double *N, const double *phi,
                          double power, Py_ssize_t n, double *cst, double *cst0) noexcept nogil:
    """The parts of the family's log-density that depend on neither linear predictor
    (reused along runs of equal (y, N, phi))."""
    cdef Py_ssize_t i
    cdef double lpz, lq
    for i in range(n):
        if i > 0 and y[i] == y[i - 1] and N[i] == N[i - 1] and phi[i] == phi[i - 1]:
            cst[i] = cst[i - 1]
            cst0[i] = cst0[i - 1]
            continue
        obs_const(fam, trunc, False, y[i], N[i], 0.0, phi[i], power, &lpz, &lq, &cst[i], &cst0[i])


def joint_constants(int fam, bint trunc, const double[::1] y, const double[::1] N,
                    const double[::1] phi, double power, double[::1] cst, double[::1] cst0):
    """The parts of the family's log-density that depend on neither linear predictor."""
    if y.shape[0] == 0:
        return
    with nogil:
        joint_const_run(fam, trunc, &y[0], &N[0], &phi[0], power, y.shape[0], &cst[0], &cst0[0])


cdef _obs_constants(int fam, bint trunc, y, N, etac, etaz, phi, double power):
    """The per-observation arrays and joint_constants' c, c0 of them."""
    yv, Nv, ev, zv, pv = per_obs_arrays(y, N, etac, etaz, phi)
    cdef Py_ssize_t n = yv.shape[0]
    c, c0 = np.empty(n), np.empty(n)
    joint_constants(fam, trunc, yv, Nv, pv, power, c, c0)
    return yv, Nv, ev, zv, pv, c, c0


def joint_obs_terms(int fam, int link, bint trunc, y, N, etac, etaz, phi, double power=1.5,
                    bint has_zi=True):
    """(6, n): log f, d/d eta_c, d/d eta_z, -d2/d eta_c2, -d2/d eta_z2, -d2/d eta_c d eta_z
    per observation (for tests and results)."""
    yv, Nv, ev, zv, pv, c, c0 = _obs_constants(fam, trunc, y, N, etac, etaz, phi, power)
    return _obs_rows(fam, link, trunc, power, has_zi, 0, yv, Nv, ev, zv, pv, c, c0)


def joint_obs_higher(int fam, int link, bint trunc, y, N, etac, etaz, phi, double power=1.5,
                     bint has_zi=True, int which=1):
    """(16, n): joint_obs_terms' six rows, the third derivatives (l_ccc, l_ccz, l_czz,
    l_zzz), and the six rows' derivatives in log phi (``which`` 1) or the tweedie psi
    (``which`` 2), per observation (for tests)."""
    if which not in (1, 2):
        raise ValueError(f"which is 1 (log phi) or 2 (the tweedie psi), not {which}")
    yv, Nv, ev, zv, pv, c, c0 = _obs_constants(fam, trunc, y, N, etac, etaz, phi, power)
    return _obs_rows(fam, link, trunc, power, has_zi, which, yv, Nv, ev, zv, pv, c, c0)


cdef _obs_rows(int fam, int link, bint trunc, double power, bint has_zi, int which,
               double[::1] yy, double[::1] NN, double[::1] ee, double[::1] zz, double[::1] pp,
               double[::1] cc, double[::1] cc0):
    """joint_obs_terms' six rows per observation, and with ``which`` > 0 joint_obs_higher's
    ten more."""
    cdef Py_ssize_t n = yy.shape[0], i
    out = np.empty((16 if which else 6, n))
    cdef double[:, ::1] o = out
    cdef double t[4]
    cdef double a[6]
    cdef int k
    with nogil:
        for i in range(n):
            o[0, i] = joint_obs(fam, link, trunc, has_zi, yy[i], NN[i], ee[i], zz[i], cc[i], cc0[i], pp[i], power,
                                &o[1, i], &o[2, i], &o[3, i], &o[4, i], &o[5, i])
            if which == 0:
                continue
            joint_obs3(fam, link, trunc, has_zi, yy[i], NN[i], ee[i], zz[i], cc[i], cc0[i], pp[i], power, t)
            joint_obs_aux(which, fam, link, trunc, has_zi, yy[i], NN[i], ee[i], zz[i], pp[i], power, a)
            for k in range(4):
                o[6 + k, i] = t[k]
            for k in range(6):
                o[10 + k, i] = a[k]
    return out
