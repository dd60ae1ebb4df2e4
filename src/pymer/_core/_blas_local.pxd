# OpenBLAS on the calling thread alone around dense kernels (see _blas_local.pyx)
cdef void blas_single(int *saved) noexcept nogil
cdef void blas_restore(const int *saved) noexcept nogil
