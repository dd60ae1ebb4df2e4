# Positions in a sparse (CSC) pattern, shared by the compiled cores: Z'WZ (_crossprod.pyx),
# PIRLS (_pirls.pyx), glmmTMB's Laplace (_tmb.pyx) and the selected inversion
# (_selinv.pyx). Inline, so each module gets its own machine code and no new extension is needed.
from libc.stdint cimport int64_t


cdef inline Py_ssize_t sorted_position(const int64_t *idx, Py_ssize_t lo, Py_ssize_t hi,
                                       int64_t r) noexcept nogil:
    """Binary search in the sorted idx[lo..hi] (hi inclusive): the first position whose
    value is >= r, or hi when none is (the caller checks idx[pos] == r where it may not be)."""
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) // 2
        if idx[mid] < r:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline void locate_ztz(int64_t[:, ::1] zcols, int64_t[::1] colptr, int64_t[::1] rowind,
                            int64_t[:, ::1] zpos) noexcept nogil:
    """Once per model: the position in Z'WZ's CSC values (the pattern colptr/rowind) of
    every row's products z_ia z_ib, row i's K x K block stored row by row in zpos[i]."""
    cdef Py_ssize_t i, a, bb, c
    cdef Py_ssize_t n = zcols.shape[0], K = zcols.shape[1]
    for i in range(n):
        for bb in range(K):
            c = zcols[i, bb]
            for a in range(K):
                zpos[i, bb * K + a] = sorted_position(&rowind[0], colptr[c], colptr[c + 1] - 1,
                                                      zcols[i, a])
