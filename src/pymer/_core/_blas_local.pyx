# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""OpenBLAS on the calling thread alone around the core's dense kernels.

OpenBLAS's per-thread thread count (see _blas_threads.py, which finds the entry points):
every dense kernel of the core runs on the calling thread alone, set and restored around
each update (the PLS core's, PIRLS's, the TMB gradients'; the evaluation's second thread
runs on itself alone too, _eval_worker.pyx).
"""
import numpy
import scipy.linalg.cython_blas
from pymer._core._blas_threads import _setters

# NumPy's and SciPy's OpenBLAS are loaded (imported above) before _setters() looks for them

ctypedef int (*set_threads_fn)(int) noexcept nogil
cdef set_threads_fn _blas_set[4]
cdef int _n_blas_set = 0
for _fn in _setters()[:4]:
    import ctypes as _ct
    _blas_set[_n_blas_set] = <set_threads_fn> <size_t> _ct.cast(_fn, _ct.c_void_p).value
    _n_blas_set += 1


cdef void blas_single(int *saved) noexcept nogil:
    """Set every OpenBLAS found to one thread for the calling thread; saved[] gets the old counts."""
    cdef int i
    for i in range(_n_blas_set):
        saved[i] = _blas_set[i](1)


cdef void blas_restore(const int *saved) noexcept nogil:
    """Put back the calling thread's counts saved by blas_single."""
    cdef int i
    for i in range(_n_blas_set):
        _blas_set[i](saved[i])
