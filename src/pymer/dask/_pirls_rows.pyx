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
from pymer._core._compensated cimport neumaier_add
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
    """(ok, c, c_comp): -2 log-likelihood = c + sum of deviance residuals when, for every
    row, -2 log f(y | mu) - d(y, mu) does not depend on mu (checked at two means, as the
    compiled PIRLS's set_aic_const); ok False otherwise (or for a dispersion family).
    c is a compensated sum: c + c_comp (see pymer._core._compensated)."""
    cdef const double[::1] yv = np.ascontiguousarray(y, dtype=np.float64)
    cdef const double[::1] wv = np.ascontiguousarray(pw, dtype=np.float64)
    cdef Py_ssize_t i, n = yv.shape[0]
    cdef double ma, mb, da, ca, cb, acc = 0.0, acc_c = 0.0
    cdef bint ok = True
    if has_dispersion(family):
        return False, 0.0, 0.0
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
            neumaier_add(&acc, &acc_c, ca)
    return bool(ok), float(acc), float(acc_c)


cdef inline bint valid_eta(int link, double eta) noexcept nogil:
    """R's valideta: eta finite and inside the link's domain."""
    if not isfinite(eta):
        return False
    if link == LINK_SQRT or link == LINK_INVSQUARE:
        return eta > 0.0
    if link == LINK_INVERSE:
        return eta != 0.0
    return True


cdef inline double row_eval(int kind, int family, int link, double nb_theta, double yi, double pwi,
                            double eta, double *mu_out, double *w_out, double *wres_out,
                            bint *valid) noexcept nogil:
    """One row at linear predictor eta: the mean, working weight and working residual
    (the compiled PIRLS's update_eta), returning the row's deviance residual."""
    cdef double mu, me, var, e, v
    if kind == 1 and fabs(eta) <= 30.0:
        e = exp(-eta)
        mu = 1.0 / (1.0 + e)
        me = e * mu * mu
        mu_out[0] = mu
        w_out[0] = pwi * me
        wres_out[0] = (yi - mu) / me
        v = 0.0
        if 0.0 < yi < 1.0:
            v = yi * log(yi) + (1.0 - yi) * log(1.0 - yi)
        return 2.0 * pwi * (v - log(mu) + (1.0 - yi) * eta)
    if kind == 2 and -36.0 < eta < 700.0:
        mu = exp(eta)
        me = mu
        var = mu
        if yi > 0.0:
            v = 2.0 * pwi * (yi * log(yi / mu) - (yi - mu))
        else:
            v = 2.0 * pwi * mu
    else:
        mu = linkinv(link, eta)
        if not valid_mu(family, mu):
            valid[0] = False
        me = mu_eta(link, eta)
        var = variance(family, mu, nb_theta)
        v = dev_resid(family, yi, mu, pwi, nb_theta)
    mu_out[0] = mu
    w_out[0] = pwi * me * me / var
    wres_out[0] = (yi - mu) / me
    return v


cdef inline int fast_kind(int family, int link) noexcept nogil:
    if family == FAM_BINOMIAL and link == LINK_LOGIT:
        return 1
    if family == FAM_POISSON and link == LINK_LOG:
        return 2
    return 0


def pirls_pass(const double[::1] y, const double[::1] pw, const double[::1] offset,
               const double[::1, :] X, const int64_t[:, ::1] zcols, const double[:, ::1] zvals,
               const int64_t[:, ::1] zpos, const double[::1] beta, const double[::1] b,
               int family, int link, double nb_theta, bint joint, bint with_z, bint loglik,
               Py_ssize_t nnz, const double[::1] ref_db, const double[::1] ref_dbeta):
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
    ref_db, ref_dbeta : (q,) and (p,) arrays, or empty
        A move of the linear predictor, Z ref_db + X ref_dbeta (either may be empty):
        the rows it moves by more than 1 are counted (the trust test of a predicted
        mode, see :func:`predict_pass`).

    Returns
    -------
    (valid, valid_eta, (devsum, devsum_comp), m2loglik, ztz, ZtXz, XztXz, far) : the
    deviance as a compensated sum (see pymer._core._compensated); valid is False when some
    mu leaves the family's domain (the compiled PIRLS's step-halving test), valid_eta when
    some eta leaves the link's (R's valideta, for the GLM start); far counts the rows that
    ref_db, ref_dbeta move by more than 1.
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
    cdef double acc, xb, mu, yi, wi, wres, v, zi, dev = 0.0, dev_c = 0.0, ll = 0.0
    cdef bint valid = True, veta = True
    cdef bint check = ref_db.shape[0] > 0 or ref_dbeta.shape[0] > 0
    cdef Py_ssize_t far = 0
    cdef int kind = fast_kind(family, link)
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
            neumaier_add(&dev, &dev_c, row_eval(kind, family, link, nb_theta, yi, pw[i], acc, &mu, &wi,
                                                &wres, &valid))
            if loglik:
                ll += -2.0 * loglik_obs(family, yi, mu, pw[i], nb_theta)
            if check:
                v = 0.0
                if ref_db.shape[0] > 0:
                    for a in range(K):
                        v += zvals[i, a] * ref_db[zcols[i, a]]
                for j in range(ref_dbeta.shape[0]):
                    v += X[i, j] * ref_dbeta[j]
                if not fabs(v) <= 1.0:
                    far += 1
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
    return (bool(valid), bool(veta), (float(dev), float(dev_c)), float(ll), ztz_a, ZtXz_a, XztXz_a,
            int(far))


def predict_pass(const double[::1] y, const double[::1] pw, const double[::1] offset,
                 const double[::1, :] X, const int64_t[:, ::1] zcols, const double[:, ::1] zvals,
                 const double[::1] beta, const double[::1] b, const double[::1] dbeta,
                 const double[::1] db, int family, int link, double nb_theta, bint joint):
    """The partition's sums for the first-order prediction of the mode (the compiled
    PIRLS's predict_u), at the mode (beta, b) with its working weights w and residuals r
    and the move d eta = X dbeta + Z db of the linear predictor at fixed u.

    Returns
    -------
    (s1, s2, xr) : Z'W d eta and Z'W r (q,), and X'W d eta (p,; joint, else empty).
    """
    cdef Py_ssize_t n = y.shape[0], p = X.shape[1], K = zcols.shape[1], q = b.shape[0]
    cdef Py_ssize_t i, j, a, c
    s1_a = np.zeros(q)
    s2_a = np.zeros(q)
    xr_a = np.zeros(p if joint else 0)
    cdef double[::1] s1 = s1_a
    cdef double[::1] s2 = s2_a
    cdef double[::1] xr = xr_a
    cdef double acc, xb, deta, mu, wi, wres, v
    cdef bint valid = True
    cdef int kind = fast_kind(family, link)
    with nogil:
        for i in range(n):
            xb = 0.0
            deta = 0.0
            for j in range(p):
                xb += X[i, j] * beta[j]
                deta += X[i, j] * dbeta[j]
            acc = offset[i] + xb
            for a in range(K):
                c = zcols[i, a]
                acc += zvals[i, a] * b[c]
                deta += zvals[i, a] * db[c]
            row_eval(kind, family, link, nb_theta, y[i], pw[i], acc, &mu, &wi, &wres, &valid)
            for a in range(K):
                c = zcols[i, a]
                v = wi * zvals[i, a]
                s1[c] += v * deta
                s2[c] += v * wres
            if joint:
                v = wi * deta
                for j in range(p):
                    xr[j] += X[i, j] * v
    return s1_a, s2_a, xr_a
