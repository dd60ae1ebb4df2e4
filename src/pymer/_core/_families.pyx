# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Families and links (R's definitions: ?family, ?make.link), compiled for PIRLS.

The -2 log-likelihood terms follow R's family()$aic: binomial with trials as
prior weights, Poisson, negative binomial (MASS), and the dispersion families
(Gamma, inverse Gaussian, Gaussian) with the dispersion estimated as dev/sum(wt).
"""
import numpy as np
from libc.math cimport exp, log, sqrt, fabs, erfc, atan, lgamma, expm1, M_PI, INFINITY, round as cround

cdef double DBL_EPS = 2.220446049250313e-16
cdef double THRESH_LOGIT = 30.0
cdef double THRESH_PROBIT = 8.125890664701906      # -qnorm(DBL_EPSILON)
cdef double THRESH_CAUCHIT = 1433540284805664.8    # -qcauchy(DBL_EPSILON) = 1/tan(pi DBL_EPSILON)
cdef double M_SQRT1_2_ = 0.7071067811865476
cdef double M_1_SQRT_2PI_ = 0.3989422804014327


cdef double linkinv(int link, double eta) noexcept nogil:
    cdef double t
    if link == LINK_LOGIT:
        if eta < -THRESH_LOGIT:
            return DBL_EPS
        if eta > THRESH_LOGIT:
            return 1.0 - DBL_EPS
        return 1.0 / (1.0 + exp(-eta))
    elif link == LINK_PROBIT:
        t = eta if eta > -THRESH_PROBIT else -THRESH_PROBIT
        t = t if t < THRESH_PROBIT else THRESH_PROBIT
        return 0.5 * erfc(-t * M_SQRT1_2_)
    elif link == LINK_CLOGLOG:
        t = -expm1(-exp(eta))
        if t < DBL_EPS:
            return DBL_EPS
        if t > 1.0 - DBL_EPS:
            return 1.0 - DBL_EPS
        return t
    elif link == LINK_CAUCHIT:
        t = eta if eta > -THRESH_CAUCHIT else -THRESH_CAUCHIT
        t = t if t < THRESH_CAUCHIT else THRESH_CAUCHIT
        # the Cauchy CDF, in the tails as atan(1/|t|)/pi (0.5 + atan(t)/pi would lose
        # the lower tail to cancellation: 1e-8 relative at t = -1e8)
        if t < -1.0:
            return atan(-1.0 / t) / M_PI
        if t > 1.0:
            return 1.0 - atan(1.0 / t) / M_PI
        return 0.5 + atan(t) / M_PI
    elif link == LINK_LOG:
        t = exp(eta)
        return t if t > DBL_EPS else DBL_EPS
    elif link == LINK_IDENTITY:
        return eta
    elif link == LINK_INVERSE:
        return 1.0 / eta
    elif link == LINK_SQRT:
        return eta * eta
    elif link == LINK_INVSQUARE:
        return 1.0 / sqrt(eta)
    return eta


cdef double mu_eta(int link, double eta) noexcept nogil:
    cdef double t, a
    if link == LINK_LOGIT:
        a = exp(-fabs(eta))
        t = a / ((1.0 + a) * (1.0 + a))
        return t if t > DBL_EPS else DBL_EPS
    elif link == LINK_PROBIT:
        t = M_1_SQRT_2PI_ * exp(-0.5 * eta * eta)
        return t if t > DBL_EPS else DBL_EPS
    elif link == LINK_CLOGLOG:
        a = eta if eta < 700.0 else 700.0
        t = exp(a) * exp(-exp(a))
        return t if t > DBL_EPS else DBL_EPS
    elif link == LINK_CAUCHIT:
        t = 1.0 / (M_PI * (1.0 + eta * eta))
        return t if t > DBL_EPS else DBL_EPS
    elif link == LINK_LOG:
        t = exp(eta)
        return t if t > DBL_EPS else DBL_EPS
    elif link == LINK_IDENTITY:
        return 1.0
    elif link == LINK_INVERSE:
        return -1.0 / (eta * eta)
    elif link == LINK_SQRT:
        return 2.0 * eta
    elif link == LINK_INVSQUARE:
        return -1.0 / (2.0 * eta * sqrt(eta))
    return 1.0


cdef double variance(int fam, double mu, double nb_theta) noexcept nogil:
    if fam == FAM_BINOMIAL:
        return mu * (1.0 - mu)
    elif fam == FAM_POISSON:
        return mu
    elif fam == FAM_GAMMA:
        return mu * mu
    elif fam == FAM_INVGAUSS:
        return mu * mu * mu
    elif fam == FAM_NEGBIN:
        return mu + mu * mu / nb_theta
    return 1.0


cdef inline double ylogy(double y, double mu) noexcept nogil:
    return y * log(y / mu) if y > 0.0 else 0.0


cdef double dev_resid(int fam, double y, double mu, double wt, double nb_theta) noexcept nogil:
    if fam == FAM_BINOMIAL:
        return 2.0 * wt * (ylogy(y, mu) + ylogy(1.0 - y, 1.0 - mu))
    elif fam == FAM_POISSON:
        if y > 0.0:
            return 2.0 * wt * (y * log(y / mu) - (y - mu))
        return 2.0 * wt * mu
    elif fam == FAM_GAMMA:
        return -2.0 * wt * ((log(y / mu) if y != 0.0 else 0.0) - (y - mu) / mu)
    elif fam == FAM_INVGAUSS:
        return wt * (y - mu) * (y - mu) / (y * mu * mu)
    elif fam == FAM_NEGBIN:
        return 2.0 * wt * (y * log((y if y > 1.0 else 1.0) / mu)
                           - (y + nb_theta) * log((y + nb_theta) / (mu + nb_theta)))
    return wt * (y - mu) * (y - mu)


cdef double loglik_obs(int fam, double y, double mu, double wt, double nb_theta) noexcept nogil:
    """Log-likelihood of one observation (families without a dispersion parameter)."""
    cdef double m, k
    if fam == FAM_BINOMIAL:
        if wt <= 0.0:
            return 0.0
        m = cround(wt)
        k = cround(wt * y)
        if m <= 0.0:
            return 0.0
        return (wt / m) * (lgamma(m + 1.0) - lgamma(k + 1.0) - lgamma(m - k + 1.0)
                           + (k * log(mu) if k > 0 else 0.0)
                           + ((m - k) * log(1.0 - mu) if m - k > 0 else 0.0))
    elif fam == FAM_POISSON:
        return wt * ((y * log(mu) if y > 0 else 0.0) - mu - lgamma(y + 1.0))
    elif fam == FAM_NEGBIN:
        return wt * (lgamma(nb_theta + y) - lgamma(nb_theta) - lgamma(y + 1.0)
                     + nb_theta * log(nb_theta) + y * log(mu + (1.0 if y == 0 else 0.0))
                     - (nb_theta + y) * log(nb_theta + mu))
    return 0.0


cdef bint has_dispersion(int fam) noexcept nogil:
    return fam == FAM_GAMMA or fam == FAM_INVGAUSS or fam == FAM_GAUSSIAN


cdef bint valid_mu(int fam, double mu) noexcept nogil:
    """mu inside the family's domain (R's family()$validmu, and finite).

    Non-canonical links (inverse, sqrt, identity, log for binomial) can map
    eta outside it; there the deviance and the working weights mean nothing
    (a negative variance makes Z'WZ indefinite), so PIRLS must step back.
    """
    if not (mu == mu) or mu == INFINITY or mu == -INFINITY:
        return False
    if fam == FAM_BINOMIAL:
        return 0.0 < mu < 1.0
    if fam == FAM_GAUSSIAN:
        return True
    return mu > 0.0


cdef double aic_total(int fam, const double *y, const double *mu, const double *wt,
                      Py_ssize_t n, double nb_theta, double dev) noexcept nogil:
    """R's family()$aic: -2 log-likelihood (+2 for an estimated dispersion)."""
    cdef Py_ssize_t i
    cdef double acc = 0.0, sw = 0.0, disp, shape, scale
    if not has_dispersion(fam):
        for i in range(n):
            acc += loglik_obs(fam, y[i], mu[i], wt[i], nb_theta)
        return -2.0 * acc
    for i in range(n):
        sw += wt[i]
    disp = dev / sw
    if fam == FAM_GAMMA:
        shape = 1.0 / disp
        for i in range(n):
            scale = mu[i] * disp
            acc += wt[i] * ((shape - 1.0) * log(y[i]) - y[i] / scale - lgamma(shape) - shape * log(scale))
        return -2.0 * acc + 2.0
    elif fam == FAM_INVGAUSS:
        for i in range(n):
            acc += wt[i] * log(y[i])
        return sw * (log(disp * 2.0 * M_PI) + 1.0) + 3.0 * acc + 2.0
    else:
        for i in range(n):
            if wt[i] > 0:
                acc += log(wt[i])
        return n * (log(2.0 * M_PI * dev / n) + 1.0) + 2.0 - acc


# ---- thin wrappers for tests and the Python layer ------------------------------

def family_eval(int fam, int link, eta, y, wt, double nb_theta=1.0):
    """mu, mu_eta, variance, deviance residuals and -2 log-lik terms for vectors."""
    e = np.ascontiguousarray(eta, dtype=np.float64)
    yy = np.ascontiguousarray(y, dtype=np.float64)
    ww = np.ascontiguousarray(wt, dtype=np.float64)
    n = e.shape[0]
    mu = np.empty(n); me = np.empty(n); var = np.empty(n); dr = np.empty(n)
    cdef const double[::1] ev = e, yv = yy, wv = ww       # inputs may be read-only (pandas)
    cdef double[::1] muv = mu, mev = me, vv = var, dv = dr
    cdef Py_ssize_t i
    for i in range(n):
        muv[i] = linkinv(link, ev[i])
        mev[i] = mu_eta(link, ev[i])
        vv[i] = variance(fam, muv[i], nb_theta)
        dv[i] = dev_resid(fam, yv[i], muv[i], wv[i], nb_theta)
    cdef double aic = aic_total(fam, &yv[0], &muv[0], &wv[0], n, nb_theta, float(dr.sum()))
    return mu, me, var, dr, aic
