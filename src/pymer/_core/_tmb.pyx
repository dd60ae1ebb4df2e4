# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Laplace approximation for glmmTMB's families, on the PLS core.

The marginal likelihood integrates u (b = Lambda u, u ~ N(0, I)) by Laplace:

    -2 log L ~= -2 sum_i w_i l_i(eta_i) + ||u||^2 + log|H|,   H = Lambda'Z'DZ Lambda + I,

l_i the log-density of observation i (zero-inflated or truncated as the model
says), D_i = -w_i d2 l_i / d eta_i^2 at the mode of u. The mode is found by
Newton steps on the penalized log-density with step-halving; each step is a
PLS solve with weights D and the working response Z Lambda u + g / D (g the
first derivatives), so Z'DZ goes through the same sparse (CHOLMOD or blocked)
factorization as PIRLS. Where the observed information is not positive the
step falls back to |D| (a quasi-Newton step, still halved until the objective
falls); log|H| is always that of the observed information at the mode.

With ``joint`` (REML for the gaussian family) the fixed effects are part of the
mode, and the restricted likelihood adds log|R_X|^2.

Per-observation functions: ``base_ll`` (log-density and its first two
derivatives in mu, glmmTMB's parameterizations), ``link_eval`` (mu and its
first two derivatives in eta) and ``obs_ll`` (the chain rule, truncation and
zero-inflation).
"""
import numpy as np
from libc.math cimport (log, exp, sqrt, fabs, lgamma, log1p, expm1, erfc, pow, INFINITY, NAN,
                        isfinite, M_PI, fmax)
from libc.string cimport memset
from libc.stdint cimport int64_t
from scipy.special.cython_special cimport psi
from pymer._core._pls cimport PLS
from pymer._core._zwz cimport locate_ztz
from pymer._core._families cimport (LINK_LOGIT, LINK_PROBIT, LINK_CLOGLOG, LINK_LOG,
                                    LINK_IDENTITY, LINK_INVERSE, LINK_SQRT)

cdef double LOG_2PI = log(2.0 * M_PI)
cdef enum:
    NCACHE = 64      # set_parameters' cache of the per-observation constants, on whole y


cdef inline double digamma(double x) noexcept nogil:
    return psi(x)


cdef double trigamma(double x) noexcept nogil:
    """psi'(x) for x > 0: recurrence up to x >= 8, then the asymptotic series."""
    cdef double acc = 0.0, z, z2
    while x < 8.0:
        acc += 1.0 / (x * x)
        x += 1.0
    z = 1.0 / x
    z2 = z * z
    return acc + z + 0.5 * z2 + z * z2 * (1.0 / 6.0 - z2 * (1.0 / 30.0 - z2 * (1.0 / 42.0 - z2 / 30.0)))


cdef void gamma_ratio(double x, double y, double *lg, double *dg, double *tg) noexcept nogil:
    """lgamma(x + y) - lgamma(x), digamma(x + y) - digamma(x) and trigamma(x + y) -
    trigamma(x), for x > 0 and y >= 0: as finite sums when y is a small whole number
    (counts), else from the special functions."""
    cdef double a = 0.0, b = 0.0, c = 0.0, t
    cdef int j, m
    if y == 0.0:
        lg[0] = 0.0; dg[0] = 0.0; tg[0] = 0.0
        return
    if y <= 24.0 and y == <double> (<int> y):
        m = <int> y
        for j in range(m):
            t = x + j
            a += log(t)
            b += 1.0 / t
            c -= 1.0 / (t * t)
        lg[0] = a; dg[0] = b; tg[0] = c
        return
    lg[0] = lgamma(x + y) - lgamma(x)
    dg[0] = digamma(x + y) - digamma(x)
    tg[0] = trigamma(x + y) - trigamma(x)


cdef void link_eval(int link, double eta, double *mu, double *m1, double *m2) noexcept nogil:
    """mu = linkinv(eta) and its first two derivatives in eta."""
    cdef double e, t
    if link == LINK_LOG:
        e = exp(eta)
        mu[0] = e; m1[0] = e; m2[0] = e
    elif link == LINK_LOGIT:
        if eta >= 0:
            e = exp(-eta)
            t = 1.0 / (1.0 + e)
            mu[0] = t
            m1[0] = e * t * t
        else:
            e = exp(eta)
            t = e / (1.0 + e)
            mu[0] = t
            m1[0] = t / (1.0 + e)
        m2[0] = m1[0] * (1.0 - 2.0 * mu[0])
    elif link == LINK_IDENTITY:
        mu[0] = eta; m1[0] = 1.0; m2[0] = 0.0
    elif link == LINK_INVERSE:
        mu[0] = 1.0 / eta; m1[0] = -1.0 / (eta * eta); m2[0] = 2.0 / (eta * eta * eta)
    elif link == LINK_PROBIT:
        mu[0] = 0.5 * erfc(-eta / sqrt(2.0))
        t = exp(-0.5 * eta * eta) / sqrt(2.0 * M_PI)
        m1[0] = t; m2[0] = -eta * t
    elif link == LINK_CLOGLOG:
        e = exp(eta)
        mu[0] = -expm1(-e)
        t = exp(eta - e)
        m1[0] = t; m2[0] = t * (1.0 - e)
    elif link == LINK_SQRT:
        mu[0] = eta * eta; m1[0] = 2.0 * eta; m2[0] = 2.0
    else:
        mu[0] = NAN; m1[0] = NAN; m2[0] = NAN


cdef double tweedie_logw(double y, double phi, double p, double *d_logphi=NULL,
                         double *d_p=NULL) noexcept nogil:
    """log of the series W(y, phi, p) of the Tweedie density for y > 0, 1 < p < 2
    (Dunn and Smyth 2005): f(y) = W / y exp((y mu^(1-p)/(1-p) - mu^(2-p)/(2-p))/phi);
    with d_logphi and d_p its derivatives in log(phi) and p (the terms' weighted mean of
    d t_j = -j (1 - alpha) dlog(phi), j (dlogz/dp + alpha' psi(-alpha j)) dp)."""
    cdef double alpha = (2.0 - p) / (1.0 - p)
    cdef double logz = (-alpha * log(y) + alpha * log(p - 1.0) - (1.0 - alpha) * log(phi)
                        - log(2.0 - p))
    cdef double jmax = fmax(1.0, pow(y, 2.0 - p) / (phi * (2.0 - p)))
    cdef double j0 = <double> (<long> jmax)
    cdef double lmax, t, acc = 0.0, j, e, sj = 0.0, sp = 0.0, ap = 1.0 / ((1.0 - p) * (1.0 - p))
    cdef double dz = ap * (-log(y) + log(p - 1.0) + log(phi)) + alpha / (p - 1.0) + 1.0 / (2.0 - p)
    cdef bint derivs = d_logphi != NULL
    if j0 < 1.0:
        j0 = 1.0
    lmax = j0 * logz - lgamma(j0 + 1.0) - lgamma(-alpha * j0)
    j = j0
    while True:                      # upward from the largest term
        t = j * logz - lgamma(j + 1.0) - lgamma(-alpha * j) - lmax
        e = exp(t)
        acc += e
        if derivs:
            sj += e * j
            sp += e * j * (dz + ap * psi(-alpha * j))
        if t < -37.0 and j > j0:
            break
        j += 1.0
    j = j0 - 1.0
    while j >= 1.0:                  # and downward
        t = j * logz - lgamma(j + 1.0) - lgamma(-alpha * j) - lmax
        e = exp(t)
        acc += e
        if derivs:
            sj += e * j
            sp += e * j * (dz + ap * psi(-alpha * j))
        if t < -37.0:
            break
        j -= 1.0
    if derivs:
        d_logphi[0] = -(1.0 - alpha) * sj / acc
        d_p[0] = sp / acc
    return lmax + log(acc)


cdef double base_const(int fam, double y, double N, double phi, double power) noexcept nogil:
    """The part of log f(y | mu, phi) that does not depend on mu (see base_ll)."""
    cdef double r
    cdef int j
    if fam == TMB_GAUSSIAN:
        return -0.5 * (LOG_2PI + log(phi))
    elif fam == TMB_POISSON or fam == TMB_GENPOIS:
        return -lgamma(y + 1.0)
    elif fam == TMB_BINOMIAL:
        return lgamma(N + 1.0) - lgamma(y + 1.0) - lgamma(N - y + 1.0)
    elif fam == TMB_NBINOM2:
        # lgamma(y + phi) - lgamma(phi) - y log(phi): for whole y <= 24 as sum log1p(j / phi),
        # so that a large phi (the Poisson limit) loses no digits to cancellation
        if y <= 24.0 and y == <double> (<int> y):
            r = 0.0
            for j in range(<int> y):
                r += log1p(j / phi)
            return r - lgamma(y + 1.0)
        return lgamma(y + phi) - lgamma(phi) - y * log(phi) - lgamma(y + 1.0)
    elif fam == TMB_NBINOM1:
        return -lgamma(y + 1.0) + (y * (log(phi) - log1p(phi)) if y > 0 else 0.0)
    elif fam == TMB_GAMMA:
        return -lgamma(phi) + phi * log(phi) + (phi - 1.0) * log(y)
    elif fam == TMB_BETA:
        return lgamma(phi) - log(y) - log1p(-y)
    elif fam == TMB_BETABINOMIAL:
        return (lgamma(N + 1.0) - lgamma(y + 1.0) - lgamma(N - y + 1.0) - lgamma(N + phi)
                + lgamma(phi))
    elif fam == TMB_TWEEDIE:
        return tweedie_logw(y, phi, power) - log(y) if y > 0 else 0.0
    return NAN


cdef void base_ll(int fam, double y, double N, double mu, double logmu, double phi, double power,
                  double *l, double *l1, double *l2) noexcept nogil:
    """log f(y | mu, phi) - base_const(...) and its derivatives in mu, in glmmTMB's
    parameterization of phi: gaussian variance, Gamma shape, nbinom2 size, nbinom1
    variance mu (1 + phi), beta and betabinomial precision, tweedie variance
    phi mu^power, genpois variance mu phi. logmu is log(mu) when the caller has it
    (the log link: eta), else NaN."""
    cdef double a, b, k, s, th, lam, r, t, g1, d1, t1, g2, d2, t2
    if fam == TMB_POISSON or fam == TMB_NBINOM2 or fam == TMB_GAMMA:
        if logmu != logmu:
            logmu = log(mu)
    if fam == TMB_GAUSSIAN:
        r = y - mu
        l[0] = -0.5 * r * r / phi
        l1[0] = r / phi
        l2[0] = -1.0 / phi
    elif fam == TMB_POISSON:
        l[0] = (y * logmu if y > 0 else 0.0) - mu
        l1[0] = y / mu - 1.0
        l2[0] = -y / (mu * mu)
    elif fam == TMB_BINOMIAL:
        l[0] = 0.0
        if y > 0:
            l[0] += y * log(mu)
        if N - y > 0:
            l[0] += (N - y) * log1p(-mu)
        l1[0] = y / mu - (N - y) / (1.0 - mu)
        l2[0] = -y / (mu * mu) - (N - y) / ((1.0 - mu) * (1.0 - mu))
    elif fam == TMB_NBINOM2:
        t = phi + mu
        l[0] = -(phi + y) * log1p(mu / phi) + (y * logmu if y > 0 else 0.0)
        l1[0] = y / mu - (y + phi) / t
        l2[0] = -y / (mu * mu) + (y + phi) / (t * t)
    elif fam == TMB_NBINOM1:
        k = mu / phi
        r = log1p(phi)
        gamma_ratio(k, y, &g1, &d1, &t1)
        l[0] = g1 - k * r
        l1[0] = (d1 - r) / phi
        l2[0] = t1 / (phi * phi)
    elif fam == TMB_GAMMA:
        a = phi
        l[0] = -a * logmu - y * a / mu
        l1[0] = -a / mu + y * a / (mu * mu)
        l2[0] = a / (mu * mu) - 2.0 * y * a / (mu * mu * mu)
    elif fam == TMB_BETA:
        a = mu * phi
        b = (1.0 - mu) * phi
        l[0] = -lgamma(a) - lgamma(b) + a * log(y) + b * log1p(-y)
        l1[0] = phi * (log(y) - log1p(-y) - digamma(a) + digamma(b))
        l2[0] = -phi * phi * (trigamma(a) + trigamma(b))
    elif fam == TMB_BETABINOMIAL:
        a = mu * phi
        b = (1.0 - mu) * phi
        gamma_ratio(a, y, &g1, &d1, &t1)
        gamma_ratio(b, N - y, &g2, &d2, &t2)
        l[0] = g1 + g2
        l1[0] = phi * (d1 - d2)
        l2[0] = phi * phi * (t1 + t2)
    elif fam == TMB_TWEEDIE:
        t = pow(mu, 1.0 - power)
        l[0] = (y * t / (1.0 - power) - mu * t / (2.0 - power)) / phi
        l1[0] = (y * t / mu - t) / phi
        l2[0] = (-power * y * t / (mu * mu) - (1.0 - power) * t / mu) / phi
    elif fam == TMB_GENPOIS:
        s = sqrt(phi)
        th = mu / s
        lam = 1.0 - 1.0 / s
        r = th + lam * y
        l[0] = log(th) + (y - 1.0) * log(r) - r
        l1[0] = (1.0 / th + (y - 1.0) / r - 1.0) / s
        l2[0] = (-1.0 / (th * th) - (y - 1.0) / (r * r)) / phi
    else:
        l[0] = NAN; l1[0] = NAN; l2[0] = NAN


cdef inline double log1pexp(double x) noexcept nogil:
    if x > 35.0:
        return x
    return log1p(exp(x))


cdef double log_zero(double lpz, double lp0) noexcept nogil:
    """log f of a zero-inflated zero, log(e^lpz + e^lp0) (lp0 = log((1 - pz) f_0))."""
    if lpz > lp0:
        return lpz + log1p(exp(lp0 - lpz))
    return lp0 + log1p(exp(lpz - lp0))


cdef double obs_ll(int fam, int link, bint trunc, bint has_zi, double y, double N, double eta,
                   double lpz, double lq, double cst, double cst0, double phi, double power,
                   double *d1, double *d2) noexcept nogil:
    """log f(y_i) of the full model at eta, with d1 = d log f / d eta and
    d2 = -d^2 log f / d eta^2: zero-inflated (log pz = lpz, log(1 - pz) = lq), or a
    hurdle for a truncated family. cst and cst0 are base_const at y and at 0."""
    cdef double mu, m1, m2, l, l1, l2, e1, e2, l0, a1, a2, s, lp0, r, ll, lm
    if trunc and y == 0:
        d1[0] = 0.0
        d2[0] = 0.0
        return lpz
    link_eval(link, eta, &mu, &m1, &m2)
    lm = eta if link == LINK_LOG else NAN
    base_ll(fam, y, N, mu, lm, phi, power, &l, &l1, &l2)
    l += cst
    e1 = l1 * m1
    e2 = l2 * m1 * m1 + l1 * m2
    if trunc:
        base_ll(fam, 0.0, N, mu, lm, phi, power, &l0, &a1, &a2)
        l0 += cst0
        a2 = a2 * m1 * m1 + a1 * m2
        a1 = a1 * m1
        # - log(1 - p0), p0 = e^l0; s = p0 / (1 - p0)
        r = -expm1(l0)
        s = exp(l0) / r
        l = l - log(r)
        e1 += s * a1
        e2 += s * a2 + s * (1.0 + s) * a1 * a1
        d1[0] = e1
        d2[0] = -e2
        return lq + l
    if has_zi and y == 0:
        # f = pz + (1 - pz) e^l; r = (1 - pz) e^l / f
        lp0 = lq + l
        ll = log_zero(lpz, lp0)
        r = exp(lp0 - ll)
        d1[0] = r * e1
        d2[0] = -(r * e2 + r * (1.0 - r) * e1 * e1)
        return ll
    d1[0] = e1
    d2[0] = -e2
    return lq + l


cdef void obs_const(int fam, bint trunc, bint has_zi, double y, double N, double etaz, double phi,
                    double power, double *lpz, double *lq, double *cst, double *cst0) noexcept nogil:
    """The parts of obs_ll that do not depend on eta."""
    if has_zi:
        lpz[0] = -log1pexp(-etaz)
        lq[0] = -log1pexp(etaz)
    else:
        lpz[0] = -INFINITY
        lq[0] = 0.0
    cst[0] = base_const(fam, y, N, phi, power) if not (trunc and y == 0) else 0.0
    cst0[0] = base_const(fam, 0.0, N, phi, power) if trunc else 0.0


def per_obs_arrays(y, *values):
    """y as a contiguous float array, and each of ``values`` (scalars or arrays) broadcast
    to y's length as its own contiguous float copy: the per-observation inputs of the
    Python-facing evaluators here and in _tmb_joint."""
    yv = np.ascontiguousarray(y, dtype=np.float64)
    n = yv.shape[0]
    return (yv,) + tuple(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for v in values)


def obs_loglik(int fam, int link, bint trunc, bint has_zi, y, N, eta, etaz, phi, double power=1.5):
    """Per-observation log-density, d/d eta and -d^2/d eta^2 (arrays), for tests and results."""
    yv, Nv, ev, zv, pv = per_obs_arrays(y, N, eta, etaz, phi)
    cdef Py_ssize_t n = yv.shape[0], i
    out = np.empty((3, n))
    cdef double[::1] yy = yv, NN = Nv, ee = ev, zz = zv, pp = pv
    cdef double[:, ::1] o = out
    cdef double lpz, lq, cst, cst0
    with nogil:
        for i in range(n):
            obs_const(fam, trunc, has_zi, yy[i], NN[i], zz[i], pp[i], power, &lpz, &lq, &cst, &cst0)
            o[0, i] = obs_ll(fam, link, trunc, has_zi, yy[i], NN[i], ee[i], lpz, lq, cst, cst0, pp[i],
                             power, &o[1, i], &o[2, i])
    return out


cdef class TMBLaplace:
    """Laplace approximation of one glmmTMB model (the response side plus a PLS core).

    Parameters
    ----------
    pls : PLS
        Predictor core, p = 0 (u only) or p = X.shape[1] (``joint``: beta in the mode).
    y, size, prior_weights : (n,) arrays
        Response, binomial numbers of trials (1 otherwise), and the weights that
        multiply each observation's log-likelihood.
    X : (n, p) array
        Used only when the core is joint.
    zcols, zvals, colptr, rowind : Z row-wise and the pattern of Z'Z, as for PIRLS.
    family, link : int
    trunc, has_zi : bool
    """
    def __init__(self, PLS pls, y, size, prior_weights, X, zcols, zvals, colptr, rowind,
                 int family, int link, bint trunc, bint has_zi):
        self.pls = pls
        self.family = family
        self.link = link
        self.trunc = trunc
        self.has_zi = has_zi
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.n = self.y.shape[0]
        self.size = np.ascontiguousarray(size, dtype=np.float64)
        self.pw = np.ascontiguousarray(prior_weights, dtype=np.float64)
        self.X = np.asfortranarray(X, dtype=np.float64)
        self.zcols = np.ascontiguousarray(zcols, dtype=np.int64)
        self.zvals = np.ascontiguousarray(zvals, dtype=np.float64)
        self.colptr = np.ascontiguousarray(colptr, dtype=np.int64)
        self.rowind = np.ascontiguousarray(rowind, dtype=np.int64)
        self.K = self.zcols.shape[1]
        self.q = pls.q
        self.joint = pls.p > 0
        self.p = pls.p
        if self.joint and self.X.shape[1] != self.p:
            raise ValueError("a joint core needs X with p columns")
        self.m = pls.m
        n, q, p = self.n, self.q, self.p
        self.fixed = np.zeros(n)
        self.etaz = np.zeros(n)
        self.phi = np.ones(n)
        self.lpz = np.zeros(n)
        self.lq = np.zeros(n)
        self.cst = np.zeros(n)
        self.cst0 = np.zeros(n)
        self.power = 1.5
        self.eta = np.zeros(n)
        self.g = np.zeros(n)
        self.h = np.zeros(n)
        self.u = np.zeros(q)
        self.u_old = np.zeros(q)
        self.u_new = np.zeros(q)
        self.b = np.zeros(q)
        self.beta = np.zeros(max(p, 1))
        self.beta_old = np.zeros(max(p, 1))
        self.beta_new = np.zeros(max(p, 1))
        self.maxit = 200
        self.zpos = np.empty((n, self.K * self.K), dtype=np.int64)
        with nogil:
            locate_ztz(self.zcols, self.colptr, self.rowind, self.zpos)


    cdef double evaluate(self) noexcept nogil:
        """eta, the log-density and its derivatives at the current (beta,) u; returns
        the penalized objective -sum w_i l_i + ||u||^2 / 2 (infinite off the domain)."""
        cdef Py_ssize_t i, a, j, n = self.n, K = self.K
        cdef double acc, ll = 0.0, usq = 0.0, li, d1, d2
        cdef const double *zv = &self.zvals[0, 0]
        cdef const int64_t *zc = &self.zcols[0, 0]
        cdef double *b = &self.b[0] if self.q else NULL
        if self.q:
            self.pls.lambda_apply_nogil(&self.u[0], b)
        for i in range(n):
            acc = self.fixed[i]
            for a in range(K):
                acc += zv[i * K + a] * b[zc[i * K + a]]
            if self.joint:
                for j in range(self.p):
                    acc += self.X[i, j] * self.beta[j]
            self.eta[i] = acc
            li = obs_ll(self.family, self.link, self.trunc, self.has_zi, self.y[i], self.size[i],
                        acc, self.lpz[i], self.lq[i], self.cst[i], self.cst0[i], self.phi[i],
                        self.power, &d1, &d2)
            ll += self.pw[i] * li
            self.g[i] = self.pw[i] * d1
            self.h[i] = self.pw[i] * d2
        for i in range(self.q):
            usq += self.u[i] * self.u[i]
        self.usq = usq
        self.loglik_sum = ll
        if not isfinite(ll):
            return INFINITY
        return -ll + 0.5 * usq

    cdef int factor(self, bint observed) noexcept nogil:
        """Z'DZ and Z'(D (eta - fixed) + g) (joint: with the X blocks) into the core,
        then the factorization. D is the observed information, or |D| (``observed``
        False) where that is not positive definite."""
        cdef Py_ssize_t i, a, bb, j, k, c, n = self.n, K = self.K, q = self.q, p = self.p
        cdef Py_ssize_t K2 = K * K
        cdef double wi, v, zi
        cdef double *ztz = &self.pls.ztz[0]
        cdef const double *zv = &self.zvals[0, 0]
        cdef const int64_t *zc = &self.zcols[0, 0]
        cdef const int64_t *zp = &self.zpos[0, 0]
        memset(ztz, 0, self.pls.ztz.shape[0] * sizeof(double))
        for j in range(self.m):
            for i in range(q):
                self.pls.ZtXy[i, j] = 0.0
            for i in range(self.m):
                self.pls.XytXy[i, j] = 0.0
        for i in range(n):
            wi = self.h[i]
            if not observed:
                wi = fabs(wi) + 1e-8
            zi = wi * (self.eta[i] - self.fixed[i]) + self.g[i]
            for bb in range(K):
                c = zc[i * K + bb]
                v = wi * zv[i * K + bb]
                self.pls.ZtXy[c, p] += zv[i * K + bb] * zi
                for j in range(p):
                    self.pls.ZtXy[c, j] += v * self.X[i, j]
                for a in range(K):
                    ztz[zp[i * K2 + bb * K + a]] += v * zv[i * K + a]
            for j in range(p):
                v = wi * self.X[i, j]
                self.pls.XytXy[j, p] += self.X[i, j] * zi
                for k in range(j + 1):
                    self.pls.XytXy[k, j] += v * self.X[i, k]
        self.pls.XytXy[p, p] = 1e100     # the working response's own square is never used
        self.pls.update_A()
        return self.pls.update_L()

    cdef double step_size(self) noexcept nogil:
        cdef Py_ssize_t i
        cdef double d = 0.0, a = 0.0
        for i in range(self.q):
            d = fmax(d, fabs(self.u_new[i] - self.u[i]))
            a = fmax(a, fabs(self.u[i]))
        for i in range(self.p):
            d = fmax(d, fabs(self.beta_new[i] - self.beta[i]))
            a = fmax(a, fabs(self.beta[i]))
        return d / (1.0 + a)

    cdef void take_step(self, double s) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(self.q):
            self.u[i] = self.u_old[i] + s * (self.u_new[i] - self.u_old[i])
        for i in range(self.p):
            self.beta[i] = self.beta_old[i] + s * (self.beta_new[i] - self.beta_old[i])

    cdef void save_old(self) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(self.q):
            self.u_old[i] = self.u[i]
        for i in range(self.p):
            self.beta_old[i] = self.beta[i]

    cdef int run(self) noexcept nogil:
        """Newton steps to the mode from the current (beta,) u; theta installed."""
        cdef int it = 0, half, st
        cdef double f, fnew, s, t
        cdef bint improved, observed
        f = self.evaluate()
        if not isfinite(f):
            for it in range(self.q):
                self.u[it] = 0.0
            f = self.evaluate()
            if not isfinite(f):
                self.status = 30
                return 30
        it = 0
        self.status = 0
        while True:
            observed = True
            st = self.factor(True)
            if st != 0:
                observed = False
                st = self.factor(False)
                if st != 0:
                    self.status = 10 + st
                    return self.status
            if it >= self.maxit:
                self.status = 1
                break
            if self.joint:
                self.pls.solve_beta_nogil(&self.beta_new[0])
            st = self.pls.solve_u_nogil(&self.beta_new[0], &self.u_new[0] if self.q else NULL)
            if st != 0:
                self.status = 20 + st
                return self.status
            it += 1
            s = self.step_size()
            if s < 1e-12 and observed:
                break
            self.save_old()
            if s < 1e-7 and observed:
                # a quadratically convergent step this small lands on the mode (to
                # ~1e-14): factor there for log|H| and stop
                self.take_step(1.0)
                f = self.evaluate()
                if isfinite(f) and self.factor(True) == 0:
                    break
                self.take_step(0.0)
                f = self.evaluate()
            improved = False
            t = 1.0
            for half in range(40):
                self.take_step(t)
                fnew = self.evaluate()
                if fnew <= f + 1e-12 * fabs(f):
                    improved = True
                    f = fnew
                    break
                t *= 0.5
            if not improved:
                self.take_step(0.0)
                f = self.evaluate()
                if self.factor(True) != 0:
                    self.status = 12
                    return self.status
                break
        self.iterations = it
        self.pen = f
        self.logdet = self.pls.logdetL
        self.logdetRX = self.pls.logdetRX if self.joint else 0.0
        return self.status

    # ---- Python API ------------------------------------------------------------
    def set_fixed(self, const double[::1] fixed):
        """Only the conditional model's fixed part of eta (the rest as it was)."""
        cdef Py_ssize_t i
        if fixed.shape[0] != self.n:
            raise ValueError(f"fixed needs {self.n} values")
        for i in range(self.n):
            self.fixed[i] = fixed[i]

    def set_parameters(self, const double[::1] fixed, const double[::1] etaz, const double[::1] phi,
                       double power=1.5):
        """The parts of the linear predictors that do not depend on u (and, joint, on
        beta): conditional X beta + offset (joint: the offset), zero-inflation linear
        predictor, dispersion phi per observation, tweedie power."""
        cdef Py_ssize_t i
        cdef int key
        cdef double y
        cdef bint cvalid[NCACHE]
        cdef double cN[NCACHE]
        cdef double cphi[NCACHE]
        cdef double ccst[NCACHE]
        cdef double ccst0[NCACHE]
        for key in range(NCACHE):
            cvalid[key] = False
        if fixed.shape[0] != self.n or etaz.shape[0] != self.n or phi.shape[0] != self.n:
            raise ValueError(f"fixed, etaz and phi need {self.n} values")
        self.power = power
        with nogil:
            for i in range(self.n):
                self.fixed[i] = fixed[i]
                self.etaz[i] = etaz[i]
                self.phi[i] = phi[i]
            for i in range(self.n):
                y = self.y[i]
                # the constants depend on (y, N, phi) only: a direct-mapped cache on whole y
                key = <int> y if (y >= 0.0 and y < NCACHE and y == <double> (<int> y)) else -1
                if key >= 0 and cvalid[key] and cN[key] == self.size[i] and cphi[key] == self.phi[i]:
                    self.cst[i] = ccst[key]
                    self.cst0[i] = ccst0[key]
                    if i > 0 and self.etaz[i] == self.etaz[i - 1]:
                        self.lpz[i] = self.lpz[i - 1]
                        self.lq[i] = self.lq[i - 1]
                    elif self.has_zi:
                        self.lpz[i] = -log1pexp(-self.etaz[i])
                        self.lq[i] = -log1pexp(self.etaz[i])
                    else:
                        self.lpz[i] = -INFINITY
                        self.lq[i] = 0.0
                    continue
                obs_const(self.family, self.trunc, self.has_zi, y, self.size[i],
                          self.etaz[i], self.phi[i], power, &self.lpz[i], &self.lq[i],
                          &self.cst[i], &self.cst0[i])
                if key >= 0:
                    cvalid[key] = True
                    cN[key] = self.size[i]
                    cphi[key] = self.phi[i]
                    ccst[key] = self.cst[i]
                    ccst0[key] = self.cst0[i]

    def laplace(self, theta, u0=None, beta0=None):
        """-2 log L by Laplace at theta (the parameters installed), from u0 (default:
        where the state is). Returns inf where the mode or H cannot be found."""
        th = np.ascontiguousarray(theta, dtype=np.float64)
        if th.shape[0] == 0:
            th = np.zeros(1)
        cdef const double[::1] thv = th
        cdef int st
        cdef const double[::1] uv
        cdef Py_ssize_t i
        if u0 is not None:
            uv = u0
            if uv.shape[0] != self.q:
                raise ValueError(f"u0 needs {self.q} values")
            for i in range(self.q):
                self.u[i] = uv[i]
        if beta0 is not None and self.p:
            uv = beta0
            for i in range(self.p):
                self.beta[i] = uv[i]
        with nogil:
            self.pls.fill_T(&thv[0])
            st = self.run()
        if st not in (0, 1):
            return np.inf
        val = 2.0 * self.pen + self.logdet
        if self.joint:
            val += self.logdetRX - self.p * np.log(2.0 * np.pi)
        return val

    @property
    def status_code(self):
        return self.status

    @property
    def u_vec(self):
        return np.asarray(self.u).copy()

    @property
    def b_vec(self):
        return np.asarray(self.b).copy()

    @property
    def beta_vec(self):
        return np.asarray(self.beta)[:self.p].copy()

    @property
    def eta_vec(self):
        return np.asarray(self.eta).copy()

    @property
    def hess_weights(self):
        """D at the current state (observed information per observation)."""
        return np.asarray(self.h).copy()
