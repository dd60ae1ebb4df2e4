"""Random-effects building blocks shared by the property tests (tests/test_properties.py
for lmer, tests/test_glmm_robustness.py for glmer): the term kinds a random design draws
from, and the dense Z pieces that the from-scratch reference objectives are built on."""
import numpy as np
import pandas as pd

# random-effects term kinds: (formula text, expansion into (columns, grouping) pairs)
#   columns: "1" intercept, "x" slope; grouping: a column name or "g3:g1" (nested)
RE_KINDS = {
    "int_g1": ("(1 | g1)", [(["1"], "g1")]),
    "slope_g1": ("(1 + x | g1)", [(["1", "x"], "g1")]),
    "int_g2": ("(1 | g2)", [(["1"], "g2")]),
    "slope_g2": ("(x | g2)", [(["1", "x"], "g2")]),
    "uncorr_g2": ("(x || g2)", [(["1"], "g2"), (["x"], "g2")]),
    "noint_g2": ("(0 + x | g2)", [(["x"], "g2")]),
    "nested": ("(1 | g1/g3)", [(["1"], "g3:g1"), (["1"], "g1")]),
}


def group_codes(d, grouping):
    """(codes, number of levels) of a grouping column, or of "g3:g1" for the nested kind."""
    key = d[grouping] if ":" not in grouping else d["g3"] + ":" + d["g1"]
    codes, levels = pd.factorize(key)
    return codes, len(levels)


def term_columns(d, cols):
    return np.column_stack([np.ones(len(d)) if c == "1" else d[c].to_numpy(float) for c in cols])


def lme4_term_order(nlevs):
    """lme4's order of the random-effects terms (written here from the rule, not from
    pymer): formula order unless some term has more levels than the one before it,
    else R's rev(order(nlevs)): decreasing, ties in reverse formula order."""
    if not any(b > a for a, b in zip(nlevs, nlevs[1:])):
        return list(range(len(nlevs)))
    return sorted(range(len(nlevs)), key=lambda i: nlevs[i])[::-1]


def dense_terms(d, terms):
    """(columns matrix, codes, nlev) per term, in lme4's order (:func:`lme4_term_order`)."""
    out = [(term_columns(d, cols), *group_codes(d, g)) for cols, g in terms]
    order = lme4_term_order([o[2] for o in out])
    return [out[i] for i in order]
