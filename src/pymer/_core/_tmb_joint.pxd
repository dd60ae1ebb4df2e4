# The per-observation terms of glmmTMB's joint (conditional + zero-inflation random
# effects) models (_tmb_joint.pyx), for the compiled Laplace core (_tmb_joint_laplace.pyx)
# and its gradient (_tmb_joint_grad.pyx).

cdef double joint_obs(int fam, int link, bint trunc, bint has_zi, double y, double N, double etac,
                      double etaz, double cst, double cst0, double phi, double power,
                      double *gc, double *gz, double *hcc, double *hzz, double *hcz) noexcept nogil
cdef int joint_obs3(int fam, int link, bint trunc, bint has_zi, double y, double N, double etac,
                    double etaz, double cst, double cst0, double phi, double power,
                    double *t) noexcept nogil
cdef int joint_obs_aux(int which, int fam, int link, bint trunc, bint has_zi, double y, double N,
                       double etac, double etaz, double phi, double power, double *out) noexcept nogil
cdef void joint_const_run(int fam, bint trunc, const double *y, const double *N, const double *phi,
                          double power, Py_ssize_t n, double *cst, double *cst0) noexcept nogil
