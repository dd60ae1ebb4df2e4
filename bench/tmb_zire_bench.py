#!/usr/bin/env python3
"""Random effects in ziformula: pymer vs glmmTMB, side by side in one run (the models
of tests/reference/tmb_zire.R: zero-inflated Poisson and nbinom2, a hurdle
truncated_nbinom2, each with a site random intercept in the zero model).

    python bench/tmb_zire_bench.py --repeats 3

Each task runs once as a warm-up and then `--repeats` times in each tool (glmmTMB in
one Rscript process, pymer in this one); the medians of wall and CPU time are printed
with the ratios glmmTMB / pymer.
"""
from __future__ import annotations

from tmb_side_by_side import run

import pymer  # noqa: E402  (from src/, which tmb_side_by_side puts first)
from tmbdata import load  # noqa: E402

R_TASKS = r"""
sal <- load_tmb("Salamanders")
tasks <- list(
  zip_re = function() glmmTMB(count ~ mined + (1 | site), ziformula = ~ mined + (1 | site), data = sal,
                              family = poisson),
  zinb_re = function() glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ (1 | site), data = sal,
                               family = nbinom2),
  hurdle_nb2_re = function() glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + (1 | site),
                                     data = sal, family = truncated_nbinom2))
"""


def _pymer_tasks():
    sal = load("Salamanders")
    return {
        "zip_re": lambda: pymer.glmmtmb("count ~ mined + (1 | site)", sal, ziformula="~ mined + (1 | site)",
                                        family="poisson"),
        "zinb_re": lambda: pymer.glmmtmb("count ~ spp + mined + (1 | site)", sal, ziformula="~ (1 | site)",
                                         family="nbinom2"),
        "hurdle_nb2_re": lambda: pymer.glmmtmb("count ~ spp + mined + (1 | site)", sal,
                                               ziformula="~ spp + (1 | site)", family="truncated_nbinom2"),
    }


if __name__ == "__main__":
    run(__doc__.splitlines()[0], R_TASKS, _pymer_tasks)
