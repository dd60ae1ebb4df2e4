# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Higher derivatives of one observation's log-density (_tmb.pyx's obs_ll) in closed form,
for the gradient of the Laplace objective (_tmb_grad.pyx).

``obs_partials`` gives, at one observation, the third derivative of its log-density in
eta (for dD/deta) and the derivatives of the log-density and of its first two
eta-derivatives in A = log phi (gaussian, Gamma, nbinom1, nbinom2, tweedie), in the
tweedie power's psi and, at a zero of a zero-inflated model, in the zero-inflation
predictor. Base densities (``base_ll``: l, l1, l2 in mu) get their third mu-derivative
``l3`` here, the links their third derivative, and the A-partials of the base density
(with its mu-free constant; tweedie's series from ``tweedie_logw``); truncation
(- log(1 - p0), p0 = e^l0) and zero inflation at a zero (log(pz + (1 - pz) e^l)) are
differentiated exactly with the same rules for any direction (eta, A, psi):

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
from pymer._core._tmb cimport (link_eval, base_ll, obs_const, tweedie_logw, log_zero,
                               TMB_GAUSSIAN, TMB_BINOMIAL, TMB_POISSON, TMB_GAMMA, TMB_NBINOM2,
                               TMB_NBINOM1, TMB_BETA, TMB_BETABINOMIAL, TMB_TWEEDIE, TMB_GENPOIS)


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


cdef int base_dlogphi(int fam, double y, double mu, double phi, double w_a, double l, double l1,
                      double l2, double l3, double *la, double *l1a, double *l2a) noexcept nogil:
    """d/d log(phi) of base_ll's log-density plus base_const (la), of l1 and of l2, where
    written out (gaussian, Gamma, nbinom1, nbinom2, tweedie: w_a the log series W's
    derivative); 1 for the other families."""
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
    elif fam == TMB_TWEEDIE:
        # the mu-part is proportional to 1 / phi; the series W's part from tweedie_logw
        la[0] = -l + (w_a if y > 0 else 0.0)
        l1a[0] = -l1
        l2a[0] = -l2
    else:
        return 1
    return 0


cdef void tweedie_dpsi(double y, double mu, double phi, double p, double w_p, double l1, double l2,
                       double *lp, double *l1p, double *l2p) noexcept nogil:
    """d/d psi (p = 1 + plogis(psi)) of the tweedie log-density (w_p: the log series W's
    derivative in p), l1, l2."""
    cdef double lm = log(mu), a = 1.0 - p, b = 2.0 - p, dpdpsi = (p - 1.0) * (2.0 - p)
    cdef double dW = w_p if y > 0 else 0.0
    lp[0] = dpdpsi * ((y * pow(mu, a) * (1.0 / (a * a) - lm / a)
                       + pow(mu, b) * (lm / b - 1.0 / (b * b))) / phi + dW)
    l1p[0] = -dpdpsi * lm * l1
    l2p[0] = dpdpsi * ((pow(mu, -p) - y * pow(mu, -p - 1.0)) / phi - lm * l2)


cdef inline void chain(double m1, double m2, double dl1, double dl2, double *de1,
                       double *de2) noexcept nogil:
    """d/dX of (e1, e2) = (l1 m1, l2 m1^2 + l1 m2) for a direction X free of eta."""
    de1[0] = dl1 * m1
    de2[0] = dl2 * m1 * m1 + dl1 * m2


cdef inline void hurdle_dir(double s, double a1, double a2, double c0, double c1, double c2,
                            double *dl, double *de1, double *de2) noexcept nogil:
    """Adds the truncation term's derivatives in a direction (dl0 = c0, da1 = c1, da2 = c2)."""
    cdef double ss = s * (1.0 + s)
    dl[0] += s * c0
    de2[0] += ss * c0 * a2 + s * c2 + ss * (1.0 + 2.0 * s) * c0 * a1 * a1 + 2.0 * ss * a1 * c1
    de1[0] += ss * c0 * a1 + s * c1


cdef inline void zero_dir(double r, double e1, double e2, double *dl, double *de1,
                          double *de2) noexcept nogil:
    """The zero-inflated zero's derivatives in a direction, from the base density's."""
    cdef double rr = r * (1.0 - r)
    de2[0] = rr * dl[0] * e2 + r * de2[0] + rr * (1.0 - 2.0 * r) * dl[0] * e1 * e1 + 2.0 * rr * e1 * de1[0]
    de1[0] = rr * dl[0] * e1 + r * de1[0]
    dl[0] = r * dl[0]


cdef int obs_partials(int fam, int link, bint trunc, bint has_zi, double y, double N, double eta,
                      double lpz, double lq, double cst, double cst0, double phi, double power,
                      bint want_a, const double *wser, double *e3, double *apart, double *zpart,
                      double *ppart) noexcept nogil:
    """At one observation of the full model (obs_ll's arguments): e3 = d^3 log f / d eta^3;
    with ``want_a``, apart = d/dA of (log f, d log f / d eta, -d^2 log f / d eta^2),
    A = log phi; for tweedie ppart the same in psi (power = 1 + plogis(psi); wser: the log
    series W's derivatives in log phi and p at this y, from tweedie_logw); at a zero of
    a zero-inflated (not truncated) model zpart the same in the zero-inflation predictor
    (there r = (1 - pz) e^l / f: d log f = 1 - r - pz, dr = -r (1 - r)). Returns 0, or 1
    when the family's A-partials are not written out (apart then unset), 2 when a value is
    not finite."""
    cdef double mu, m1, m2, m3, l, l1, l2, l3, e1, e2, E3, L
    cdef double l0, a1, a2, a3, b1, b2, b3, s, ss, lp0, r, rr
    cdef double ba, b1a, b2a, ela = 0.0, e1a = 0.0, e2a = 0.0, c0a, c1a, c2a
    cdef double lp = 0.0, e1p = 0.0, e2p = 0.0, bp, b1p, b2p
    cdef bint tw = fam == TMB_TWEEDIE
    cdef int st = 0
    if trunc and y == 0:
        e3[0] = 0.0
        if want_a:
            apart[0] = 0.0; apart[1] = 0.0; apart[2] = 0.0
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
        st = base_dlogphi(fam, y, mu, phi, wser[0] if tw else 0.0, l, l1, l2, l3, &ela, &b1a, &b2a)
        if st == 0:
            chain(m1, m2, b1a, b2a, &e1a, &e2a)
    if tw:
        tweedie_dpsi(y, mu, phi, power, wser[1], l1, l2, &lp, &b1p, &b2p)
        chain(m1, m2, b1p, b2p, &e1p, &e2p)
    if trunc:
        base_ll(fam, 0.0, N, mu, eta if link == LINK_LOG else NAN, phi, power, &l0, &b1, &b2)
        b3 = base_l3(fam, 0.0, N, mu, phi, power)
        a1 = b1 * m1
        a2 = b2 * m1 * m1 + b1 * m2
        a3 = b3 * m1 * m1 * m1 + 3.0 * b2 * m1 * m2 + b1 * m3
        s = exp(l0 + cst0) / (-expm1(l0 + cst0))
        ss = s * (1.0 + s)
        E3 = E3 + s * a3 + 3.0 * ss * a1 * a2 + ss * (1.0 + 2.0 * s) * a1 * a1 * a1
        if want_a and st == 0:
            st = base_dlogphi(fam, 0.0, mu, phi, 0.0, l0, b1, b2, b3, &c0a, &ba, &b2a)
            if st == 0:
                chain(m1, m2, ba, b2a, &c1a, &c2a)
                hurdle_dir(s, a1, a2, c0a, c1a, c2a, &ela, &e1a, &e2a)
    elif has_zi and y == 0:
        lp0 = lq + L
        r = exp(lp0 - log_zero(lpz, lp0))
        rr = r * (1.0 - r)
        zpart[0] = 1.0 - r - exp(lpz)
        zpart[1] = -rr * e1
        zpart[2] = rr * (e2 + (1.0 - 2.0 * r) * e1 * e1)
        E3 = r * E3 + 3.0 * rr * e1 * e2 + rr * (1.0 - 2.0 * r) * e1 * e1 * e1
        if want_a and st == 0:
            zero_dir(r, e1, e2, &ela, &e1a, &e2a)
        if tw:
            zero_dir(r, e1, e2, &lp, &e1p, &e2p)
    e3[0] = E3
    if not isfinite(E3):
        return 2
    if tw:
        ppart[0] = lp; ppart[1] = e1p; ppart[2] = -e2p
        if not (isfinite(lp) and isfinite(e1p) and isfinite(e2p)):
            return 2
    if want_a and st == 0:
        apart[0] = ela; apart[1] = e1a; apart[2] = -e2a
        if not (isfinite(ela) and isfinite(e1a) and isfinite(e2a)):
            return 2
    return st


def obs_partials_py(int fam, int link, bint trunc, bint has_zi, double y, double N, double eta,
                    double etaz, double phi, double power=1.5):
    """obs_partials at one observation (for tests): e3, then (dl, dl1, -dl2) in log phi, in
    the zero-inflation predictor and in the tweedie psi; NaN where not written out (or not
    at a zero of a zero-inflated model, or not tweedie)."""
    cdef double lpz, lq, cst, cst0, e3 = NAN
    cdef double ap[3]
    cdef double zp[3]
    cdef double pp[3]
    cdef double ws[2]
    cdef int st, j
    ws[0] = 0.0; ws[1] = 0.0
    if fam == TMB_TWEEDIE and y > 0:
        tweedie_logw(y, phi, power, &ws[0], &ws[1])
    for j in range(3):
        ap[j] = NAN; zp[j] = NAN; pp[j] = NAN
    obs_const(fam, trunc, has_zi, y, N, etaz, phi, power, &lpz, &lq, &cst, &cst0)
    st = obs_partials(fam, link, trunc, has_zi, y, N, eta, lpz, lq, cst, cst0, phi, power, True,
                      ws, &e3, ap, zp, pp)
    if st == 1:
        ap[0] = NAN; ap[1] = NAN; ap[2] = NAN
    return e3, (ap[0], ap[1], ap[2]), (zp[0], zp[1], zp[2]), (pp[0], pp[1], pp[2])
