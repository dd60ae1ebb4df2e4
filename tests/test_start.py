"""Starting values: lme4's identity start, or a moment estimate for scalar random intercepts."""
import numpy as np
import pytest

import pymer
from pymer.formula import parse_formula
from pymer.lmm import LinearMixedModel


def _model(data, f, **kw):
    return LinearMixedModel(parse_formula(f, pymer.datasets.load(data)), **kw)


def test_vector_terms_start_at_identity():
    m = _model("sleepstudy", "Reaction ~ Days + (Days | Subject)")
    x0, step = m.start_theta()
    np.testing.assert_array_equal(x0, [1.0, 0.0, 1.0])
    assert step is None


def test_scalar_intercepts_start_at_moment_estimates_near_the_optimum():
    m = _model("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)")
    x0, step = m.start_theta()
    fit = m.fit()
    assert step is not None and np.all(x0 > 0)
    # closer to the optimum than lme4's start of 1, within a factor of 3 per component
    assert np.all(np.abs(np.log(x0 / fit.theta)) < np.log(3.0))


@pytest.mark.parametrize("data,f", [("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
                                    ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
                                    ("Dyestuff", "Yield ~ 1 + (1 | Batch)"),
                                    ("Dyestuff2", "Yield ~ 1 + (1 | Batch)")])
def test_moment_start_reaches_the_identity_start_optimum(data, f):
    m = _model(data, f)
    a = m.fit()
    b = m.fit(start=m.re.theta_start())
    assert a.objective <= b.objective + 1e-8 * abs(b.objective)


def test_user_start_is_used():
    m = _model("Dyestuff", "Yield ~ 1 + (1 | Batch)")
    fit = m.fit(start=[0.5])
    assert fit.theta[0] == pytest.approx(0.8483, rel=1e-3)
