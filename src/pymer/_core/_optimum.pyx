# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""What a fitted linear mixed model reads from the PLS core after an update: the
fixed-effects block of the factor, R_X and c_beta (U = [[R_X, c_beta], [0, r]]), copied
in one compiled call instead of numpy slicing of the core's arrays per piece."""
import numpy as np
from pymer._core._pls cimport PLS


def fixed_block(PLS core):
    """(R_X, c_beta): R_X (p x p, upper triangular, C order, zeros below the diagonal:
    what ``PLS.RX`` returns) and c_beta (p,) from the core's last update."""
    cdef Py_ssize_t p = core.p, i, j
    RX_a = np.zeros((p, p), dtype=np.float64)
    cb_a = np.empty(p, dtype=np.float64)
    cdef double[:, ::1] RX = RX_a
    cdef double[::1] cb = cb_a
    with nogil:
        for i in range(p):
            for j in range(i, p):
                RX[i, j] = core.U[i, j]
            cb[i] = core.U[i, p]
    return RX_a, cb_a
