"""The count-data lecture: negative binomial counts at 16 sites, with site intercepts and slopes.

Run:  python examples/negative_binomial_sites.py

``robinson_sites_counts`` is the lecture's simulated ``dat2`` (set.seed(123)):
overdispersed counts y against x at 16 sites. lme4's
``glmer.nb(y ~ x + (x | site), data = dat2)`` estimates the negative binomial
shape theta along with the mixed model; a Poisson GLMM ignores the overdispersion.
"""
import warnings

import numpy as np

import pymer

dat2 = pymer.datasets.load("robinson_sites_counts")
print(f"Counts: mean {dat2['y'].mean():.2f}, variance {dat2['y'].var():.2f} "
      f"(a Poisson variable has variance = mean)")

if not hasattr(pymer, "glmer_nb"):
    print("this pymer has no glmer_nb() yet; nothing more to fit.")
    raise SystemExit(0)

# lme4: glmer.nb(y ~ x + (x | site), data = dat2)
nb = pymer.glmer_nb("y ~ x + (x | site)", data=dat2)
print()
print(nb.summary())
theta = getattr(getattr(nb, "family", None), "theta", None)
if theta is None:
    theta = nb.model.family.theta
print()
print(f"Negative binomial: theta {theta:.4f}, logLik {nb.loglik:.3f}")
print(nb.tidy(conf_int=True).to_string(index=False))

# the Poisson GLMM of the same counts, for comparison
with warnings.catch_warnings():
    warnings.simplefilter("ignore")      # a misspecified model may not converge cleanly
    pois = pymer.glmer("y ~ x + (x | site)", data=dat2, family="poisson")
print()
print("Poisson GLMM vs negative binomial GLMM of the same counts:")
for name, g in (("Poisson", pois), ("negative binomial", nb)):
    print(f"  {name:17s} logLik {g.loglik:9.3f}, AIC {g.aic:8.2f}; slope of x {g.fixef['x']:.4f} "
          f"(SE {np.sqrt(g.vcov.loc['x', 'x']):.4f})")
print(f"  The negative binomial model fits better by {nb.loglik - pois.loglik:.1f} log-likelihood units,")
print("  for one more parameter (theta): the counts vary more than a Poisson model allows.")
