#!/usr/bin/env python3
"""glmmTMB's features in pymer vs glmmTMB, side by side in one run: a model without
random effects, dispformula="~0", and profile-likelihood intervals.

    python bench/tmb_feat_bench.py --repeats 3

Each task runs once as a warm-up and then `--repeats` times in each tool (glmmTMB in
one Rscript process, pymer in this one); the medians of wall and CPU time are printed
with the ratios glmmTMB / pymer.
"""
from __future__ import annotations

import pandas as pd

from tmb_side_by_side import run

import pymer  # noqa: E402  (from src/, which tmb_side_by_side puts first)
from tmbdata import load  # noqa: E402

R_TASKS = r"""
sal <- load_tmb("Salamanders"); ss <- load_tmb("sleepstudy")
ss$y <- ss$Reaction / 100; ss$obs <- factor(seq_len(nrow(ss)))
zip <- glmmTMB(count ~ mined + (1 | site), ziformula = ~1, data = sal, family = poisson)
tasks <- list(
  no_re_zinb2 = function() glmmTMB(count ~ spp + mined, ziformula = ~1, data = sal, family = nbinom2),
  disp0_gaussian = function() glmmTMB(y ~ Days + (1 | Subject) + (1 | obs), dispformula = ~0, data = ss),
  profile_zip = function() confint(zip, method = "uniroot"))
"""


def _pymer_tasks():
    sal, ss = load("Salamanders"), load("sleepstudy")
    ss["y"] = ss["Reaction"] / 100
    levels = [str(i + 1) for i in range(len(ss))]
    ss["obs"] = pd.Categorical(levels, categories=levels)
    zip_fit = pymer.glmmtmb("count ~ mined + (1 | site)", sal, ziformula="~1", family="poisson")
    return {
        "no_re_zinb2": lambda: pymer.glmmtmb("count ~ spp + mined", sal, ziformula="~1", family="nbinom2"),
        "disp0_gaussian": lambda: pymer.glmmtmb("y ~ Days + (1 | Subject) + (1 | obs)", ss, dispformula="~0"),
        "profile_zip": lambda: zip_fit.confint(method="uniroot"),
    }


if __name__ == "__main__":
    run(__doc__.splitlines()[0], R_TASKS, _pymer_tasks)
