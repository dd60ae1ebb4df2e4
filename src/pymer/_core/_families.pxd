# Families and links of generalized linear (mixed) models, as compiled functions.

cdef enum:
    FAM_BINOMIAL = 0
    FAM_POISSON = 1
    FAM_GAMMA = 2
    FAM_INVGAUSS = 3
    FAM_GAUSSIAN = 4
    FAM_NEGBIN = 5

cdef enum:
    LINK_LOGIT = 0
    LINK_PROBIT = 1
    LINK_CLOGLOG = 2
    LINK_CAUCHIT = 3
    LINK_LOG = 4
    LINK_IDENTITY = 5
    LINK_INVERSE = 6
    LINK_SQRT = 7
    LINK_INVSQUARE = 8

cdef double linkinv(int link, double eta) noexcept nogil
cdef double mu_eta(int link, double eta) noexcept nogil
cdef double variance(int fam, double mu, double nb_theta) noexcept nogil
cdef double dev_resid(int fam, double y, double mu, double wt, double nb_theta) noexcept nogil
cdef double loglik_obs(int fam, double y, double mu, double wt, double nb_theta) noexcept nogil
cdef bint has_dispersion(int fam) noexcept nogil
cdef bint valid_mu(int fam, double mu) noexcept nogil
cdef double aic_total(int fam, const double *y, const double *mu, const double *wt,
                      Py_ssize_t n, double nb_theta, double dev) noexcept nogil
