"""Calibration of pymer.simulate_residuals' tests on data simulated from a fitted model.

A model is fitted once; `n_data` responses are simulated from it (new random effects),
the model is refitted to each, and the residual tests are run on each refit. Under a
correct model a calibrated test rejects at level 0.05 in about 5% of the data sets;
the script prints the rejection rates, the mean p-value and a KS test of the p-values
against the uniform distribution, for conditional and unconditional simulations.

    PYTHONPATH=src python3 bench/checking_calibration.py [poisson|binomial|gaussian] [n_data] [groups] [per_group]
    PYTHONPATH=src python3 bench/checking_calibration.py poisson 50 20 5 refit    # parametric bootstrap, n_sim = 39
"""
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

import pymer
from pymer.checking import simulate_residuals

TESTS = ["test_uniformity", "test_dispersion", "test_outliers", "test_zero_inflation", "test_quantiles"]


def main(family="poisson", n_data=200, ng=30, per=10, n_sim=250, refit=False):
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(1)
    n = ng * per
    g = np.repeat(np.arange(ng), per)
    x = rng.normal(size=n)
    eta = 0.3 + 0.4 * x + rng.normal(0, 0.5, ng)[g]
    if family == "poisson":
        y = rng.poisson(np.exp(eta))
    elif family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    else:
        y = eta + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    m = (pymer.lmer("y ~ x + (1 | g)", d) if family == "gaussian"
         else pymer.glmer("y ~ x + (1 | g)", d, family=family))
    Y = np.array(m.simulate(n_data, seed=2))
    t0 = time.time()
    modes = [(False, "refit")] if refit else [(True, "conditional"), (False, "unconditional")]
    pv = {name: [] for _, name in modes}
    for j in range(n_data):
        f = m.refit(np.array(Y[:, j]))
        for cond, name in modes:
            r = simulate_residuals(f, n_sim=n_sim, seed=j, conditional=cond, refit=refit)
            pv[name].append([getattr(r, t)().p_value for t in TESTS])
    print(f"{family}: {n_data} data sets of {ng} groups x {per}, n_sim = {n_sim}, {time.time() - t0:.0f} s")
    print(f"{'simulation':<14}{'test':<22}{'P(p<0.05)':>10}{'P(p<0.1)':>10}{'mean p':>8}{'KS of p':>10}")
    for name, P in pv.items():
        P = np.array(P)
        for k, t in enumerate(TESTS):
            p = P[:, k]
            print(f"{name:<14}{t:<22}{np.mean(p < 0.05):>10.3f}"
                  f"{np.mean(p < 0.1):>10.3f}{p.mean():>8.3f}{stats.kstest(p, 'uniform').pvalue:>10.3g}")


if __name__ == "__main__":
    a = sys.argv[1:]
    refit = "refit" in a
    a = [v for v in a if v != "refit"]
    main(a[0] if a else "poisson", *(int(v) for v in a[1:4]), **({"n_sim": 39, "refit": True} if refit else {}))
