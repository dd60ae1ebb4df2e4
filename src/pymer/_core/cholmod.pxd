# Declarations of the CHOLMOD C API (SuiteSparse 5.x through 7.x) that pymer uses.
# Only the struct fields pymer touches are declared; the C header supplies the layout.

cdef extern from "cholmod.h" nogil:
    ctypedef long SuiteSparse_long

    enum:
        CHOLMOD_LONG
        CHOLMOD_DOUBLE
        CHOLMOD_REAL
        CHOLMOD_PATTERN
        CHOLMOD_OK
        CHOLMOD_NOT_POSDEF
        CHOLMOD_A
        CHOLMOD_LDLt
        CHOLMOD_L
        CHOLMOD_Lt
        CHOLMOD_P
        CHOLMOD_Pt
        CHOLMOD_SIMPLICIAL
        CHOLMOD_AUTO
        CHOLMOD_SUPERNODAL

    ctypedef struct cholmod_common:
        int final_asis
        int final_ll
        int final_super
        int final_pack
        int final_monotonic
        int final_resymbol
        int supernodal
        int nmethods
        int postorder
        int print "print"
        int status
        int quick_return_if_not_posdef
        double fl
        double lnz

    ctypedef struct cholmod_sparse:
        size_t nrow
        size_t ncol
        size_t nzmax
        void *p
        void *i
        void *nz
        void *x
        void *z
        int stype
        int itype
        int xtype
        int dtype
        int sorted
        int packed

    ctypedef struct cholmod_dense:
        size_t nrow
        size_t ncol
        size_t nzmax
        size_t d
        void *x
        void *z
        int xtype
        int dtype

    ctypedef struct cholmod_factor:
        size_t n
        size_t minor
        void *Perm
        void *p
        void *i
        void *x
        size_t nsuper
        void *super "super"
        void *pi
        void *px
        int is_ll
        int is_super

    int cholmod_l_start(cholmod_common *c)
    int cholmod_l_finish(cholmod_common *c)
    cholmod_factor *cholmod_l_analyze(cholmod_sparse *A, cholmod_common *c)
    int cholmod_l_factorize_p(cholmod_sparse *A, double *beta, SuiteSparse_long *fset,
                              size_t fsize, cholmod_factor *L, cholmod_common *c)
    cholmod_dense *cholmod_l_solve(int sys, cholmod_factor *L, cholmod_dense *B,
                                   cholmod_common *c)
    int cholmod_l_free_factor(cholmod_factor **L, cholmod_common *c)
    int cholmod_l_free_dense(cholmod_dense **X, cholmod_common *c)
