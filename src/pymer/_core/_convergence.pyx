# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""lme4's convergence checks' numbers from a fit's gradient and Hessian (checkConv):
the scaled gradient by the Hessian's Cholesky factor and the Hessian's eigenvalues, by
LAPACK, without Python per element. The compiled optimizer (_optim.pyx) computes the
derivatives; :func:`pymer.optimize.check_convergence` writes the messages."""
import numpy as np
from libc.math cimport isfinite, NAN
from scipy.linalg.cython_blas cimport dtrsv
from scipy.linalg.cython_lapack cimport dpotrf, dsyev


# convergence_summary's codes
cdef enum:
    _CONV_NO_FREE = 0
    _CONV_NOT_FINITE = 1
    _CONV_NOT_POSDEF = 2
    _CONV_OK = 3

CONV_NO_FREE, CONV_NOT_FINITE, CONV_NOT_POSDEF, CONV_OK = (_CONV_NO_FREE, _CONV_NOT_FINITE,
                                                          _CONV_NOT_POSDEF, _CONV_OK)


def convergence_summary(grad, hess, free):
    """The numbers lme4's checkConv decides on, from the gradient and Hessian of the
    parameters marked `free` (those not on their bound).

    Returns (code, max_mingrad, component, nneg, ev_min, ev_max): code CONV_NO_FREE,
    CONV_NOT_FINITE (a non-finite gradient or Hessian), CONV_NOT_POSDEF (Cholesky fails:
    no scaled gradient) or CONV_OK; the largest min(|scaled gradient|, |gradient|) and
    its parameter (1-based, among all; the first largest); the number of negative
    eigenvalues of the Hessian, its smallest and largest. The scaled gradient is U^-1 g
    with U'U = H (R's chol); the eigenvalues are LAPACK's dsyev, as numpy's eigvalsh.
    """
    cdef double[::1] g = np.ascontiguousarray(grad, dtype=np.float64).ravel()
    cdef double[:, ::1] H = np.ascontiguousarray(hess, dtype=np.float64)
    cdef const unsigned char[::1] fr = np.ascontiguousarray(free, dtype=np.uint8).ravel()
    cdef int m = <int> g.shape[0], k = 0, i, j, a, b, info = 0, one = 1, lwork = -1
    if H.shape[0] != m or H.shape[1] != m or fr.shape[0] != m:
        raise ValueError("convergence_summary: gradient, Hessian and free mask differ in size")
    cdef int[::1] idx = np.empty(max(m, 1), dtype=np.intc)
    for i in range(m):
        if fr[i]:
            idx[k] = i
            k += 1
    if k == 0:
        return _CONV_NO_FREE, NAN, 0, 0, NAN, NAN
    cdef double[::1] gs = np.empty(k)
    cdef double[::1] sg = np.empty(k)
    cdef double[::1, :] U = np.empty((k, k), order="F")
    cdef double[::1, :] E = np.empty((k, k), order="F")
    cdef double[::1] ev = np.empty(k)
    cdef double wq = 0.0, gmax = NAN, v
    cdef int code = _CONV_OK, comp = 0, nneg = 0
    cdef char up = b'U', lo = b'L', no = b'N'
    with nogil:
        for a in range(k):
            gs[a] = g[idx[a]]
            if not isfinite(gs[a]):
                code = _CONV_NOT_FINITE
            for b in range(k):
                v = H[idx[a], idx[b]]
                U[a, b] = v
                E[a, b] = v
                if not isfinite(v):
                    code = _CONV_NOT_FINITE
    if code == _CONV_NOT_FINITE:
        return code, NAN, 0, 0, NAN, NAN
    with nogil:
        dpotrf(&up, &k, &U[0, 0], &k, &info)
        if info != 0:
            code = _CONV_NOT_POSDEF
        else:
            # np.argmax of np.minimum(|U^-1 g|, |g|): the first largest (a NaN first)
            for a in range(k):
                sg[a] = gs[a]
            dtrsv(&up, &no, &no, &k, &U[0, 0], &k, &sg[0], &one)
            for a in range(k):
                v = min(abs(sg[a]), abs(gs[a])) if sg[a] == sg[a] else sg[a]
                if a == 0 or v > gmax or v != v:
                    gmax, comp = v, idx[a] + 1
                    if v != v:
                        break
        dsyev(&no, &lo, &k, &E[0, 0], &k, &ev[0], &wq, &lwork, &info)
        lwork = max(<int> wq, 3 * k)
    cdef double[::1] work = np.empty(lwork)
    with nogil:
        dsyev(&no, &lo, &k, &E[0, 0], &k, &ev[0], &work[0], &lwork, &info)
    if info != 0:
        raise np.linalg.LinAlgError("Eigenvalues did not converge")
    for a in range(k):
        if ev[a] < 0:
            nneg += 1
    return code, gmax, comp, nneg, ev[0], ev[k - 1]
