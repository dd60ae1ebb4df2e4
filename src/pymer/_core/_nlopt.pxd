# NLopt's C API (nlopt.h), as the compiled optimizer loops use it (_optim.pyx: the LMM;
# _optim_glmm.pyx: the GLMM's two stages).

cdef extern from "nlopt.h" nogil:
    ctypedef enum nlopt_algorithm:
        NLOPT_LN_BOBYQA
        NLOPT_LN_NELDERMEAD
    ctypedef enum nlopt_result:
        NLOPT_ROUNDOFF_LIMITED
        NLOPT_MAXEVAL_REACHED
    ctypedef struct nlopt_opt_s:
        pass
    ctypedef nlopt_opt_s *nlopt_opt
    ctypedef double (*nlopt_func)(unsigned n, const double *x, double *gradient,
                                  void *func_data) noexcept nogil
    nlopt_opt nlopt_create(nlopt_algorithm algorithm, unsigned n)
    void nlopt_destroy(nlopt_opt opt)
    nlopt_result nlopt_optimize(nlopt_opt opt, double *x, double *opt_f)
    nlopt_result nlopt_set_min_objective(nlopt_opt opt, nlopt_func f, void *f_data)
    nlopt_result nlopt_set_lower_bounds(nlopt_opt opt, const double *lb)
    nlopt_result nlopt_set_upper_bounds(nlopt_opt opt, const double *ub)
    nlopt_result nlopt_set_ftol_abs(nlopt_opt opt, double tol)
    nlopt_result nlopt_set_ftol_rel(nlopt_opt opt, double tol)
    nlopt_result nlopt_set_xtol_abs1(nlopt_opt opt, double tol)
    nlopt_result nlopt_set_xtol_abs(nlopt_opt opt, const double *tol)
    nlopt_result nlopt_set_maxeval(nlopt_opt opt, int maxeval)
    nlopt_result nlopt_set_initial_step(nlopt_opt opt, const double *dx)
    nlopt_result nlopt_force_stop(nlopt_opt opt)
    void c_nlopt_version "nlopt_version"(int *major, int *minor, int *bugfix)
