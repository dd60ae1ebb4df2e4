"""The sleepstudy lecture: reaction times under sleep deprivation, random intercepts and slopes.

Run:  python examples/sleepstudy.py

lme4's classic example (Belenky et al. 2003; ``pymer.datasets.describe("sleepstudy")``):
18 subjects, reaction time on 10 days of sleep deprivation. Each subject gets
their own intercept and slope around the population line.
"""
import pymer

sleepstudy = pymer.datasets.load("sleepstudy")

# lme4: lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)
m = pymer.lmer("Reaction ~ Days + (Days | Subject)", data=sleepstudy)
print(m.summary())

# the same as tidy tables (broom.mixed's tidy() and glance())
print()
print(m.tidy(conf_int=True).to_string(index=False))
print()
print(m.glance().to_string(index=False))

# each subject's line: fixed effects + conditional modes (lme4's coef())
print()
print("Per-subject intercepts and slopes, coef(m)$Subject (first 5):")
print(m.coef["Subject"].head().round(3).to_string())

# random intercepts only, and the comparison by likelihood ratio (ML fits, as anova() refits)
m0 = pymer.lmer("Reaction ~ Days + (1 | Subject)", data=sleepstudy, REML=False)
m1 = pymer.lmer("Reaction ~ Days + (Days | Subject)", data=sleepstudy, REML=False)
chisq = 2 * (m1.loglik - m0.loglik)
ddf = len(m1.theta) - len(m0.theta)
from scipy.stats import chi2  # noqa: E402

print()
print("Random intercepts vs random intercepts and slopes (ML):")
print(f"  AIC {m0.aic:.2f} vs {m1.aic:.2f}; Chisq = {chisq:.2f} on {ddf} df, "
      f"p = {chi2.sf(chisq, ddf):.3g}")
sd_days = m.tidy("ran_pars").set_index("term")["estimate"]["sd__Days"]
print(f"  subjects' slopes vary around {m.fixef['Days']:.3f} ms/day with SD {sd_days:.3f} ms/day (REML)")
