"""The eDNA lecture: sea lamprey DNA in tank water (Erickson, USGS; OSDC-East 2019).

Run:  python examples/lamprey_edna.py

Adults: tanks stocked with 0, 2, 20 or 200 lampreys; each water sample was run
in four qPCR replicates. The response is Copies_2 = log10(Copies + 1), with
samples where nothing was detected (NA) counted as 0 copies. Replicates of a
sample share its random effect, (1 | Sample); the alternative groups by tank.

Juveniles: detection (0/1) against the amount of DNA added and the qPCR
fluorophore, a binomial GLMM with tank random effects.
"""
import numpy as np
import pandas as pd

import pymer

adult = pymer.datasets.load("lamprey_adult_lab_DNA")
adult["Copies_2"] = np.log10(adult["Copies"].fillna(0) + 1)
adult["stock"] = pd.Categorical(adult["stock"], categories=["0L", "2L", "20L", "200L"])

# lme4: lmer(Copies_2 ~ stock + (1 | Sample), data = d)
m_sample = pymer.lmer("Copies_2 ~ stock + (1 | Sample)", data=adult)
print(m_sample.summary())
print()
# lme4: lmer(Copies_2 ~ stock + (1 | tank), data = d)
m_tank = pymer.lmer("Copies_2 ~ stock + (1 | tank)", data=adult)
print(m_tank.summary())

print()
print("Adults, grouping by sample vs by tank:")
for name, m in (("(1 | Sample)", m_sample), ("(1 | tank)", m_tank)):
    vc = m.tidy("ran_pars").set_index("group")["estimate"]
    grp = [g for g in vc.index if g != "Residual"][0]
    print(f"  {name:13s} REML criterion {m.objective:.2f}, {grp} SD {vc[grp]:.4f}, "
          f"residual SD {vc['Residual']:.4f}, AIC {m.aic:.2f}")
print("  The stock effects are the same in both (the design is balanced);")
print("  their standard errors differ with the grouping:")
se = pd.DataFrame({"(1 | Sample)": m_sample.tidy("fixed").set_index("term")["std.error"],
                   "(1 | tank)": m_tank.tidy("fixed").set_index("term")["std.error"]})
se.insert(0, "estimate", m_sample.fixef)
print(se.round(4).to_string())
# back on the copies scale: the expected log10 copies per stocking level
levels = pd.DataFrame({"stock": pd.Categorical(["0L", "2L", "20L", "200L"],
                                               categories=["0L", "2L", "20L", "200L"])})
pred = m_sample.predict(levels, re_form="NA")
print("  population prediction of log10(copies + 1) by stock: "
      + ", ".join(f"{s} {p:.3f}" for s, p in zip(levels["stock"], pred)))

# juveniles: lme4: glmer(Detect ~ factor(DNA) + Fluor + (1 | tank), family = binomial("logit"))
if hasattr(pymer, "glmer"):
    juv = pymer.datasets.load("lamprey_lab_DNA")
    g = pymer.glmer("Detect ~ factor(DNA) + Fluor + (1 | tank)", data=juv, family="binomial")
    print()
    print(g.summary())
    print()
    print(f"Juveniles: AIC {g.aic:.4f}, tank SD {np.sqrt(g.varcorr['vcov'].iloc[0]):.4f}")
    p = 1 / (1 + np.exp(-g.predict(pd.DataFrame({"DNA": [0, 1, 5, 25], "Fluor": "FAM"}),
                                   re_form="NA")))
    print("  detection probability (FAM, typical tank) by DNA level: "
          + ", ".join(f"{d} {q:.2f}" for d, q in zip([0, 1, 5, 25], p)))
else:
    print()
    print("Juveniles: this pymer has no glmer() yet; skipping the binomial GLMM.")
