# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One partition's share of a PIRLS step, for GLMMs of Dask DataFrames.

At a point (beta, b = Lambda u) the rows of one partition give: the linear predictor
eta = X beta + Z b + offset, the family's working weights w and working residuals, the
sum of the deviance residuals, and the weighted cross-products Z'WZ (on the global
pattern of Z'Z), Z'W[X z] and [X z]'W[X z] of the working response z. Summed over the
partitions they are what the compiled PIRLS (pymer._core._pirls) builds from all rows
at that point, so the penalized update and the Laplace deviance run on the sums.

The formulas are the compiled PIRLS's (update_eta, penalized_deviance and
build_crossprods): binomial/logit and Poisson/log inlined, every other family and
link through pymer._core._families.
"""
import numpy as np
from libc.math cimport log, exp, fabs, isfinite
from libc.stdint cimport int64_t
from pymer._core._zwz cimport locate_ztz
from pymer._core._families cimport (linkinv, mu_eta, variance, dev_resid, loglik_obs,
                                    has_dispersion, valid_mu,
                                    FAM_BINOMIAL, FAM_POISSON, LINK_LOGIT, LINK_LOG,
                                    LINK_SQRT, LINK_INVSQUARE, LINK_INVERSE)


def ztz_positions(zcols, colptr, rowind):
    """Where each row's products z_ia z_ib go in Z'WZ's values (once per partition)."""
    zc = np.ascontiguousarray(zcols, dtype=np.int64)
    cdef int64_t[:, ::1] zcv = zc
    cdef int64_t[::1] cp = np.ascontiguousarray(colptr, dtype=np.int64)
    cdef int64_t[::1] ri = np.ascontiguousarray(rowind, dtype=np.int64)
    zpos = np.empty((zc.shape[0], zc.shape[1] * zc.shape[1]), dtype=np.int64)
    cdef int64_t[:, ::1] zp = zpos
    if zc.shape[0]:
        with nogil:
            locate_ztz(zcv, cp, ri, zp)
    return zpos


def aic_constant(y, pw, int family, double nb_theta):
    """(ok, c): -2 log-likelihood = c + sum of deviance residuals when, for every row,
    -2 log f(y | mu) - d(y, mu) does not depend on mu (checked at two means, as the
    compiled PIRLS's set_aic_const); ok False otherwise (or for a dispersion family)."""
    cdef const double[::1] yv = np.ascontiguousarray(y, dtype=np.float64)
    cdef const double[::1] wv = np.ascontiguousarray(pw, dtype=np.float64)
    cdef Py_ssize_t i, n = yv.shape[0]
    cdef double ma, mb, da, ca, cb, acc = 0.0
    cdef bint ok = True
    if has_dispersion(family):
        return False, 0.0
    ma, mb = (0.3, 0.6) if family == FAM_BINOMIAL else (0.7, 2.5)
    with nogil:
        for i in range(n):
            da = dev_resid(family, yv[i], ma, wv[i], nb_theta)
            ca = -2.0 * loglik_obs(family, yv[i], ma, wv[i], nb_theta) - da
            cb = (-2.0 * loglik_obs(family, yv[i], mb, wv[i], nb_theta)
                  - dev_resid(family, yv[i], mb, wv[i], nb_theta))
            if not (fabs(ca - cb) <= 1e-9 * (1.0 + fabs(ca) + fabs(da))):
                ok = False
                break
            acc += ca
    return bool(ok), float(acc)


cdef inline bint valid_eta(int link, double eta) noexcept nogil:
    """R's valideta: eta finite and inside the link's domain."""
    if not isfinite(eta):
        return False
    if link == LINK_SQRT or link == LINK_INVSQUARE:
        return eta > 0.0
    if link == LINK_INVERSE:
        return eta != 0.0
    return True


def pirls_pass(const double[::1] y, const double[::1] pw, const double[::1] offset,
               const double[::1, :] X, const int64_t[:, ::1] zcols, const double[:, ::1] zvals,
               const int64_t[:, ::1] zpos, const double[::1] beta, const double[::1] b,
               int family, int link, double nb_theta, bint joint, bint with_z, bint loglik,
               Py_ssize_t nnz):
    """The partition's sums at (beta, b).

    Parameters
    ----------
    y, pw, offset : (n,) arrays
        Response (binomial: proportions), prior weights, offset.
    X : (n, p) array, column-major
    zcols, zvals, zpos : (n, K) int64, (n, K) float64, (n, K*K) int64
        Z row-wise, and each row's positions in Z'WZ's values (:func:`ztz_positions`).
    beta : (p,) array
    b : (q,) array
        Lambda u.
    family, link : int
        Codes of pymer.families.
    nb_theta : float
    joint : bool
        The working response of (beta, u) (nAGQ = 0, X's columns first) or of u alone
        (X beta subtracted, m = 1).
    with_z : bool
        False: eta = X beta + offset and no Z cross-products (a GLM step).
    loglik : bool
        Also the sum of -2 log f(y | mu) (when it is not a constant plus the deviance).
    nnz : int
        Number of values of Z'WZ.

    Returns
    -------
    (valid, valid_eta, devsum, m2loglik, ztz, ZtXz, XztXz) : valid is False when some mu
    leaves the family's domain (the compiled PIRLS's step-halving test), valid_eta when
    some eta leaves the link's (R's valideta, for the GLM start).
    """
    cdef Py_ssize_t n = y.shape[0], p = X.shape[1], K = zcols.shape[1], q = b.shape[0]
    cdef Py_ssize_t m = p + 1 if joint else 1, i, j, k, a, bb, c
    ztz_a = np.zeros(nnz if with_z else 0)
    ZtXz_a = np.zeros((q if with_z else 0, m), order="F")
    XztXz_a = np.zeros((m, m), order="F")
    xz_a = np.zeros(m)
    cdef double[::1] ztz = ztz_a
    cdef double[::1, :] ZtXz = ZtXz_a
    cdef double[::1, :] XztXz = XztXz_a
    cdef double[::1] xz = xz_a
    cdef double acc, xb, mu, me, var, e, yi, wi, wres, v, zi, dev = 0.0, ll = 0.0
    cdef bint valid = True, veta = True
    cdef int kind = 0
    if family == FAM_BINOMIAL and link == LINK_LOGIT:
        kind = 1
    elif family == FAM_POISSON and link == LINK_LOG:
        kind = 2
    with nogil:
        for i in range(n):
            xb = 0.0
            for j in range(p):
                xb += X[i, j] * beta[j]
            acc = offset[i] + xb
            if with_z:
                for a in range(K):
                    acc += zvals[i, a] * b[zcols[i, a]]
            yi = y[i]
            if not valid_eta(link, acc):
                veta = False
            if kind == 1 and fabs(acc) <= 30.0:
                e = exp(-acc)
                mu = 1.0 / (1.0 + e)
                me = e * mu * mu
                wi = pw[i] * me
                wres = (yi - mu) / me
                v = 0.0
                if 0.0 < yi < 1.0:
                    v = yi * log(yi) + (1.0 - yi) * log(1.0 - yi)
                dev += 2.0 * pw[i] * (v - log(mu) + (1.0 - yi) * acc)
            else:
                if kind == 2 and -36.0 < acc < 700.0:
                    mu = exp(acc)
                    me = mu
                    var = mu
                    if yi > 0.0:
                        dev += 2.0 * pw[i] * (yi * log(yi / mu) - (yi - mu))
                    else:
                        dev += 2.0 * pw[i] * mu
                else:
                    mu = linkinv(link, acc)
                    if not valid_mu(family, mu):
                        valid = False
                    me = mu_eta(link, acc)
                    var = variance(family, mu, nb_theta)
                    dev += dev_resid(family, yi, mu, pw[i], nb_theta)
                wi = pw[i] * me * me / var
                wres = (yi - mu) / me
            if loglik:
                ll += -2.0 * loglik_obs(family, yi, mu, pw[i], nb_theta)
            # the working response of the part solved for: (beta,) u
            zi = acc - offset[i] + wres
            if not joint:
                zi -= xb
            # [X z] of this row
            if joint:
                for j in range(p):
                    xz[j] = X[i, j]
            xz[m - 1] = zi
            for j in range(m):
                v = wi * xz[j]
                for k in range(j + 1):
                    XztXz[k, j] += v * xz[k]
            if with_z:
                for bb in range(K):
                    c = zcols[i, bb]
                    v = wi * zvals[i, bb]
                    for j in range(m):
                        ZtXz[c, j] += v * xz[j]
                    for a in range(K):
                        ztz[zpos[i, bb * K + a]] += v * zvals[i, a]
        for j in range(m):
            for k in range(j):
                XztXz[j, k] = XztXz[k, j]
    return bool(valid), bool(veta), float(dev), float(ll), ztz_a, ZtXz_a, XztXz_a
