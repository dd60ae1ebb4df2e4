"""The bats exercise: body mass against forest cover, sites as random vs fixed effects.

Run:  python examples/bats.py

``batMass``: 150 bats of three species caught at 15 sites, with the forest
cover around each capture. Mass depends on species and forest cover (each
species its own intercept and slope: ``species * forest - 1``). Sites differ,
and we can account for that in two ways:

* a mixed model, ``lmer(mass ~ species * forest - 1 + (1 | sites))``: the 15
  sites are a sample from a population of sites with one variance;
* an ordinary linear model with site as a fixed effect,
  ``lm(mass ~ species * forest - 1 + sites)``: 14 extra coefficients, each site
  on its own.
"""
import numpy as np
import pandas as pd

import pymer
from pymer.formula import parse_formula

bats = pymer.datasets.load("batMass")

# ---- the mixed model -----------------------------------------------------------
m = pymer.lmer("mass ~ species * forest - 1 + (1 | sites)", data=bats)
print(m.summary())

# ---- the linear model with sites as fixed effects (least squares) ---------------------
# pymer's formula layer gives R's model matrix (treatment contrasts, R's names)
mf = parse_formula("mass ~ species * forest - 1 + sites", bats, require_random=False)
X, y, names = mf.X, mf.y, mf.fixef_names
beta, rss, rank, _ = np.linalg.lstsq(X, y, rcond=None)
n, p = X.shape
sigma_lm = float(np.sqrt(np.sum((y - X @ beta) ** 2) / (n - p)))
se_lm = sigma_lm * np.sqrt(np.diag(np.linalg.inv(X.T @ X)))
lm = pd.DataFrame({"estimate": beta, "std.error": se_lm}, index=names)
print()
print(f"Linear model with sites as fixed effects: {p} coefficients, "
      f"residual SD {sigma_lm:.4f} on {n - p} df")

# ---- how the answers differ ---------------------------------------------------------------
# species intercepts: lm's refer to the first site (Blueglass); averaged over the
# 15 sites they estimate the same thing as lmer's intercepts
site_cols = [nm for nm in names if nm.startswith("sites")]
site_eff = np.concatenate([[0.0], lm.loc[site_cols, "estimate"].to_numpy()])
shift = site_eff.mean()
fixed_terms = list(m.fixef.index)
cmp = pd.DataFrame({
    "lmer": m.fixef,
    "lmer SE": m.tidy("fixed").set_index("term")["std.error"],
    "lm (sites fixed)": [lm.loc[t, "estimate"] + (shift if t.startswith("species") and ":" not in t
                                                  else 0.0) for t in fixed_terms],
    "lm SE": [lm.loc[t, "std.error"] for t in fixed_terms],
}, index=fixed_terms)
print()
print("Fixed effects (lm's species intercepts averaged over the sites):")
print(cmp.round(4).to_string())

# site effects: lm's, centred, against lmer's conditional modes (shrunk towards 0)
site_lm = pd.Series(site_eff - shift, index=sorted(bats["sites"].unique()))
blup = m.ranef["sites"]["(Intercept)"]
sites = pd.DataFrame({"lm (centred)": site_lm, "lmer (conditional mode)": blup.reindex(site_lm.index)})
sites["ratio"] = sites.iloc[:, 1] / sites.iloc[:, 0]
print()
print("Site effects:")
print(sites.round(3).to_string())
sd_sites = m.tidy("ran_pars").set_index("group")["estimate"]
print()
print(f"Between-site SD: lmer {sd_sites['sites']:.4f} from one variance parameter; "
      f"SD of lm's 15 site effects {np.std(site_lm, ddof=1):.4f}")
print(f"Residual SD: lmer {m.sigma:.4f}, lm {sigma_lm:.4f}")
print(f"Median shrinkage of the site effects (lmer / lm): {np.median(sites['ratio']):.3f}")
print("The slopes (forest and its interactions) agree closely: forest varies within sites,")
print("so both models estimate them from within-site contrasts. The species means differ in")
print("their standard errors: lmer's include the between-site variance (they are about a")
print("new site), lm's are about these 15 sites only. lmer pulls each site's effect toward")
print("the mean, the more so the less a site's own data say.")
