"""The random-slopes lecture: y against x at 16 sites, with site intercepts and slopes.

Run:  python examples/random_slopes.py

``robinson_sites`` is the lecture's simulated ``dat`` (set.seed(123)): 10
observations of y and x at each of 16 sites. Do the sites differ only in their
level (random intercepts) or also in how y responds to x (random slopes)?
"""
import numpy as np
from scipy.stats import chi2

import pymer

dat = pymer.datasets.load("robinson_sites")

# lme4: lmer(y ~ x + (1 | site), dat) and lmer(y ~ x + (x | site), dat)
m_int = pymer.lmer("y ~ x + (1 | site)", data=dat)
m_slp = pymer.lmer("y ~ x + (x | site)", data=dat)
print(m_int.summary())
print()
print(m_slp.summary())

# the slope's standard error grows once sites may differ in slope:
# the 160 points are not 160 independent looks at the slope, only 16 sites are
print()
print("Fixed slope of x:")
for name, m in (("random intercepts", m_int), ("random slopes", m_slp)):
    t = m.tidy("fixed", conf_int=True).set_index("term").loc["x"]
    print(f"  {name:18s} {t['estimate']:.4f} (SE {t['std.error']:.4f}), "
          f"95% CI {t['conf.low']:.3f} to {t['conf.high']:.3f}")

# likelihood ratio test of the slope variance and correlation (ML fits, as anova() does)
ml_int = m_int.update(REML=False)
ml_slp = m_slp.update(REML=False)
chisq = 2 * (ml_slp.loglik - ml_int.loglik)
ddf = len(ml_slp.theta) - len(ml_int.theta)
print()
print("Likelihood ratio test, intercepts vs slopes (ML):")
print(f"  logLik {ml_int.loglik:.2f} vs {ml_slp.loglik:.2f}; AIC {ml_int.aic:.2f} vs {ml_slp.aic:.2f}")
print(f"  Chisq = {chisq:.2f} on {ddf} df, p = {chi2.sf(chisq, ddf):.3g}")

# each site's own line: population line plus its conditional modes
coefs = m_slp.coef["site"]
print()
print("Site lines, coef(m)$site:")
print(coefs.round(3).to_string())
print(f"SD of the site slopes: {np.std(coefs['x'], ddof=1):.3f} "
      f"(model's slope SD {m_slp.tidy('ran_pars').set_index('term')['estimate']['sd__x']:.3f})")
