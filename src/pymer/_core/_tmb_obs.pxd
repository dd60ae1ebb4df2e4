# Closed-form higher derivatives of one observation's log-density (_tmb_obs.pyx).
cdef int obs_partials(int fam, int link, bint trunc, bint has_zi, double y, double N, double eta,
                      double lpz, double lq, double cst, double cst0, double phi, double power,
                      bint want_a, const double *wser, double *e3, double *apart, double *zpart,
                      double *ppart) noexcept nogil
