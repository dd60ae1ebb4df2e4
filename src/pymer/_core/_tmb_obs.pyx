# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Higher derivatives of one observation's log-density (_tmb.pyx's obs_ll) in closed form,
for the gradient of the Laplace objective (_tmb_grad.pyx).

``obs_partials`` gives, at one observation, the third derivative of its log-density in
eta (for dD/deta) and, for the families below, the derivatives in A = log phi of the
log-density and of its first two eta-derivatives. Base densities (``base_ll``: l, l1, l2
in mu) get their third mu-derivative ``l3`` here, the links their third derivative, and
the A-partials of the base density (with its mu-free constant) for gaussian, Gamma,
nbinom1 and nbinom2; truncation (- log(1 - p0), p0 = e^l0) and zero inflation at a zero
(log(pz + (1 - pz) e^l)) are differentiated exactly with the same rules for a direction
eta or A:

    truncation:  E1 = e1 + s a1,  E2 = e2 + s a2 + s(1+s) a1^2,  s = p0 / (1 - p0),
                 dE2 = de2 + s(1+s) dl0 a2 + s da2 + s(1+s)(1+2s) dl0 a1^2 + 2 s(1+s) a1 da1
    zero:        E1 = r e1,  E2 = r e2 + r(1-r) e1^2,  r = (1 - pz) e^l / f,
                 dE2 = r(1-r) dl e2 + r de2 + r(1-r)(1-2r) dl e1^2 + 2 r(1-r) e1 de1

(dX the derivative of X in the direction; for eta, dl = e1, de1 = e2, de2 = e3).
"""
from libc.math cimport exp, log, log1p, expm1, pow, sqrt, isfinite, NAN
from scipy.special.cython_special cimport psi
from pymer._core._families cimport (LINK_LOGIT, LINK_PROBIT, LINK_CLOGLOG, LINK_LOG,
                                    LINK_IDENTITY, LINK_INVERSE, LINK_SQRT)
from pymer._core._tmb cimport (link_eval, base_ll, obs_const, TMB_GAUSSIAN, TMB_BINOMIAL, TMB_POISSON,
                               TMB_GAMMA, TMB_NBINOM2, TMB_NBINOM1, TMB_BETA, TMB_BETABINOMIAL,
                               TMB_TWEEDIE, TMB_GENPOIS)


cdef double tetragamma(double x) noexcept nogil:
    """psi''(x) for x > 0: recurrence up to x >= 8, then the asymptotic series."""
    cdef double acc = 0.0, z, z2
    while x < 8.0:
        acc -= 2.0 / (x * x * x)
        x += 1.0
    z = 1.0 / x
    z2 = z * z
    return acc - z2 * (1.0 + z + z2 * (0.5 - z2 * (1.0 / 6.0 - z2 * (1.0 / 6.0 - 0.3 * z2))))


cdef double tetragamma_ratio(double x, double y) noexcept nogil:
    """psi''(x + y) - psi''(x), x > 0, y >= 0 (a finite sum for a small whole y)."""
    cdef double acc = 0.0, t
    cdef int j
    if y == 0.0:
        return 0.0
    if y <= 24.0 and y == <double> (<int> y):
        for j in range(<int> y):
            t = x + j
            acc += 2.0 / (t * t * t)
        return acc
    return tetragamma(x + y) - tetragamma(x)


cdef double link_d3(int link, double eta, double mu, double m1, double m2) noexcept nogil:
    """The third derivative of mu = linkinv(eta) (link_eval gives the first two)."""
    cdef double e
    if link == LINK_LOG:
        return mu
    elif link == LINK_LOGIT:
        return m1 * (1.0 - 6.0 * m1)
    elif link == LINK_IDENTITY or link == LINK_SQRT:
        return 0.0
    elif link == LINK_INVERSE:
        return -6.0 / (eta * eta * eta * eta)
    elif link == LINK_PROBIT:
        return (eta * eta - 1.0) * m1
    elif link == LINK_CLOGLOG:
        e = exp(eta)
        return m1 * ((1.0 - e) * (1.0 - e) - e)
    return NAN


cdef double base_l3(int fam, double y, double N, double mu, double phi, double power) noexcept nogil:
    """The third derivative in mu of base_ll's log-density."""
    cdef double t, a, b, k, s, th, r
    if fam == TMB_GAUSSIAN:
        return 0.0
    elif fam == TMB_POISSON:
        return 2.0 * y / (mu * mu * mu)
    elif fam == TMB_BINOMIAL:
        t = 1.0 - mu
        return 2.0 * y / (mu * mu * mu) - 2.0 * (N - y) / (t * t * t)
    elif fam == TMB_NBINOM2:
        t = phi + mu
        return 2.0 * y / (mu * mu * mu) - 2.0 * (y + phi) / (t * t * t)
    elif fam == TMB_NBINOM1:
        return tetragamma_ratio(mu / phi, y) / (phi * phi * phi)
    elif fam == TMB_GAMMA:
        return phi * (6.0 * y / mu - 2.0) / (mu * mu * mu)
    elif fam == TMB_BETA:
        a = mu * phi
        b = (1.0 - mu) * phi
        return -phi * phi * phi * (tetragamma(a) - tetragamma(b))
    elif fam == TMB_BETABINOMIAL:
        a = mu * phi
        b = (1.0 - mu) * phi
        return phi * phi * phi * (tetragamma_ratio(a, y) - tetragamma_ratio(b, N - y))
    elif fam == TMB_TWEEDIE:
        return (power * (power + 1.0) * y * pow(mu, -power - 2.0)
                + power * (1.0 - power) * pow(mu, -power - 1.0)) / phi
    elif fam == TMB_GENPOIS:
        s = sqrt(phi)
        th = mu / s
        r = th + (1.0 - 1.0 / s) * y
        return (2.0 / (th * th * th) + 2.0 * (y - 1.0) / (r * r * r)) / (phi * s)
    return NAN


cdef int base_dlogphi(int fam, double y, double mu, double phi, double l1, double l2, double l3,
                      double *la, double *l1a, double *l2a) noexcept nogil:
    """d/d log(phi) of base_ll's log-density plus base_const (la), of l1 and of l2, where
    written out (gaussian, Gamma, nbinom1, nbinom2); 1 for the other families."""
    cdef double k, r, rho, t, d1, j
    cdef int i
    if fam == TMB_GAUSSIAN:
        t = y - mu
        la[0] = 0.5 * t * t / phi - 0.5
        l1a[0] = -l1
        l2a[0] = -l2
    elif fam == TMB_GAMMA:
        la[0] = phi * (-log(mu) - y / mu - psi(phi) + log(phi) + 1.0 + log(y))
        l1a[0] = l1
        l2a[0] = l2
    elif fam == TMB_NBINOM1:
        # l = lgamma(y + k) - lgamma(k) - k log(1 + phi) + y log(phi / (1 + phi)) - lgamma(y + 1),
        # k = mu / phi (dk/dA = -k); l1 = (d1 - r) / phi, l2 = t1 / phi^2, l3 = q1 / phi^3
        k = mu / phi
        r = log1p(phi)
        rho = phi / (1.0 + phi)
        d1 = phi * l1 + r
        la[0] = -k * d1 + k * r - k * rho + y / (1.0 + phi)
        l1a[0] = (-k * phi * phi * l2 - rho) / phi - l1
        l2a[0] = -k * phi * l3 - 2.0 * l2
    elif fam == TMB_NBINOM2:
        # l = -(phi + y) log(1 + mu/phi) + y log(mu) + lgamma(y + phi) - lgamma(phi) - y log(phi) - ...
        t = phi + mu
        if y <= 24.0 and y == <double> (<int> y):
            d1 = 0.0
            for i in range(<int> y):
                j = <double> i
                d1 -= j / (phi + j)
        else:
            d1 = phi * (psi(y + phi) - psi(phi)) - y
        la[0] = -phi * log1p(mu / phi) + (phi + y) * mu / t + d1
        l1a[0] = phi * (y - mu) / (t * t)
        l2a[0] = phi * (mu - 2.0 * y - phi) / (t * t * t)
    else:
        return 1
    return 0


cdef int obs_partials(int fam, int link, bint trunc, bint has_zi, double y, double N, double eta,
                      double lpz, double lq, double cst, double cst0, double phi, double power,
                      bint want_a, double *e3, double *la, double *ga, double *da,
                      double *zpart) noexcept nogil:
    """At one observation of the full model (obs_ll's arguments): e3 = d^3 log f / d eta^3
    and, with ``want_a``, la, ga, da = d/dA of (log f, d log f / d eta, -d^2 log f / d eta^2),
    A = log phi; at a zero of a zero-inflated (not truncated) model ``zpart`` gets the same
    three in the zero-inflation predictor (there r = (1 - pz) e^l / f: d log f = 1 - r - pz,
    dr = -r (1 - r)). Returns 0, or 1 when the family's A-partials are not written out (e3
    is then set, la, ga, da not), 2 when a value is not finite."""
    cdef double mu, m1, m2, m3, l, l1, l2, l3, e1, e2, E3, L, LA = 0.0, E1A = 0.0, E2A = 0.0
    cdef double l0, a1, a2, a3, b1, b2, b3, s, ss, lp0, ll, r, rr
    cdef double bla, bl1a, bl2a, ela = 0.0, e1a = 0.0, e2a = 0.0
    cdef double c0a = 0.0, c1a = 0.0, c2a = 0.0
    cdef int st = 0
    if trunc and y == 0:
        e3[0] = 0.0
        if want_a:
            la[0] = 0.0; ga[0] = 0.0; da[0] = 0.0
        return 0
    link_eval(link, eta, &mu, &m1, &m2)
    m3 = link_d3(link, eta, mu, m1, m2)
    base_ll(fam, y, N, mu, eta if link == LINK_LOG else NAN, phi, power, &l, &l1, &l2)
    l3 = base_l3(fam, y, N, mu, phi, power)
    L = l + cst
    e1 = l1 * m1
    e2 = l2 * m1 * m1 + l1 * m2
    E3 = l3 * m1 * m1 * m1 + 3.0 * l2 * m1 * m2 + l1 * m3
    if want_a:
        st = base_dlogphi(fam, y, mu, phi, l1, l2, l3, &bla, &bl1a, &bl2a)
        if st == 0:
            ela = bla
            e1a = bl1a * m1
            e2a = bl2a * m1 * m1 + bl1a * m2
    if trunc:
        base_ll(fam, 0.0, N, mu, eta if link == LINK_LOG else NAN, phi, power, &l0, &b1, &b2)
        b3 = base_l3(fam, 0.0, N, mu, phi, power)
        l0 += cst0
        a1 = b1 * m1
        a2 = b2 * m1 * m1 + b1 * m2
        a3 = b3 * m1 * m1 * m1 + 3.0 * b2 * m1 * m2 + b1 * m3
        s = exp(l0) / (-expm1(l0))
        ss = s * (1.0 + s)
        E3 = E3 + s * a3 + 3.0 * ss * a1 * a2 + ss * (1.0 + 2.0 * s) * a1 * a1 * a1
        if want_a and st == 0:
            st = base_dlogphi(fam, 0.0, mu, phi, b1, b2, b3, &bla, &bl1a, &bl2a)
            if st == 0:
                c0a = bla
                c1a = bl1a * m1
                c2a = bl2a * m1 * m1 + bl1a * m2
                ela = ela + s * c0a
                e2a = (e2a + ss * c0a * a2 + s * c2a + ss * (1.0 + 2.0 * s) * c0a * a1 * a1
                       + 2.0 * ss * a1 * c1a)
                e1a = e1a + ss * c0a * a1 + s * c1a
    elif has_zi and y == 0:
        lp0 = lq + L
        if lpz > lp0:
            ll = lpz + log1p(exp(lp0 - lpz))
        else:
            ll = lp0 + log1p(exp(lpz - lp0))
        r = exp(lp0 - ll)
        rr = r * (1.0 - r)
        zpart[0] = 1.0 - r - exp(lpz)
        zpart[1] = -rr * e1
        zpart[2] = rr * (e2 + (1.0 - 2.0 * r) * e1 * e1)
        E3 = r * E3 + 3.0 * rr * e1 * e2 + rr * (1.0 - 2.0 * r) * e1 * e1 * e1
        if want_a and st == 0:
            e2a = rr * ela * e2 + r * e2a + rr * (1.0 - 2.0 * r) * ela * e1 * e1 + 2.0 * rr * e1 * e1a
            e1a = rr * ela * e1 + r * e1a
            ela = r * ela
    e3[0] = E3
    if not isfinite(E3):
        return 2
    if want_a and st == 0:
        la[0] = ela
        ga[0] = e1a
        da[0] = -e2a
        if not (isfinite(ela) and isfinite(e1a) and isfinite(e2a)):
            return 2
    return st


def obs_partials_py(int fam, int link, bint trunc, bint has_zi, double y, double N, double eta,
                    double etaz, double phi, double power=1.5):
    """obs_partials at one observation (for tests): (e3, dl/dA, dl1/dA, -dl2/dA) and the same
    three in the zero-inflation predictor; NaN where not written out (or not at a zero of a
    zero-inflated model)."""
    cdef double lpz, lq, cst, cst0, e3 = NAN, la = NAN, ga = NAN, da = NAN
    cdef double zp[3]
    cdef int st
    zp[0] = NAN; zp[1] = NAN; zp[2] = NAN
    obs_const(fam, trunc, has_zi, y, N, etaz, phi, power, &lpz, &lq, &cst, &cst0)
    st = obs_partials(fam, link, trunc, has_zi, y, N, eta, lpz, lq, cst, cst0, phi, power, True,
                      &e3, &la, &ga, &da, zp)
    if st == 1:
        la = NAN; ga = NAN; da = NAN
    return e3, la, ga, da, zp[0], zp[1], zp[2]
