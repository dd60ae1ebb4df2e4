"""Finite-difference derivatives of the convergence checks against analytic ones."""
import numpy as np
import pytest

from pymer.numdiff import finite_diff_derivs


def _f(x):
    return 3 * x[0] ** 2 + x[0] * x[1] - 2 * x[1] * x[2] + x[2] ** 3 + np.exp(0.5 * x[0]) * x[1]


def _grad_hess(x):
    e = np.exp(0.5 * x[0])
    g = np.array([6 * x[0] + x[1] + 0.5 * e * x[1], x[0] - 2 * x[2] + e, -2 * x[1] + 3 * x[2] ** 2])
    H = np.array([[6 + 0.25 * e * x[1], 1 + 0.5 * e, 0.0],
                  [1 + 0.5 * e, 0.0, -2.0],
                  [0.0, -2.0, 6 * x[2]]])
    return g, H


@pytest.mark.parametrize("x,lower", [
    (np.array([0.3, -0.7, 1.2]), np.full(3, -np.inf)),          # interior: central differences
    (np.array([0.0, -0.7, 0.0]), np.array([0.0, -np.inf, 0.0])),  # two parameters on their bound
])
def test_finite_differences_match_analytic_derivatives(x, lower):
    calls = []

    def f(z):
        calls.append(z.copy())
        return _f(z)

    g, H = finite_diff_derivs(f, x, lower)
    g0, H0 = _grad_hess(x)
    np.testing.assert_allclose(g, g0, atol=1e-6)
    np.testing.assert_allclose(H, H0, atol=2e-3)
    assert all(np.all(c >= lower) for c in calls)        # never evaluated outside the box
    if np.all(np.isinf(lower)):
        assert len(calls) == 1 + 2 * 3 + 2 * 3             # two new points per pair, as lme4's deriv12 needs four
