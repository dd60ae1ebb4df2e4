# Z'WZ positions, shared by the compiled PIRLS (_pirls.pyx) and glmmTMB's Laplace (_tmb.pyx):
# inline, so each module gets its own copy of the machine code and no new extension is needed.
from libc.stdint cimport int64_t


cdef inline void locate_ztz(int64_t[:, ::1] zcols, int64_t[::1] colptr, int64_t[::1] rowind,
                            int64_t[:, ::1] zpos) noexcept nogil:
    """Once per model: the position in Z'WZ's CSC values (the pattern colptr/rowind) of
    every row's products z_ia z_ib, row i's K x K block stored row by row in zpos[i]."""
    cdef Py_ssize_t i, a, bb, c, r, lo, hi, mid
    cdef Py_ssize_t n = zcols.shape[0], K = zcols.shape[1]
    for i in range(n):
        for bb in range(K):
            c = zcols[i, bb]
            for a in range(K):
                r = zcols[i, a]
                lo = colptr[c]
                hi = colptr[c + 1] - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if rowind[mid] < r:
                        lo = mid + 1
                    else:
                        hi = mid
                zpos[i, bb * K + a] = lo
