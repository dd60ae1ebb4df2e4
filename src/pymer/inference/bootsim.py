"""Responses simulated from a fitted mixed model as one (n, k) array, one column per random
generator: what ``simulate`` of lme4 draws, without a data frame per replicate.

Column j holds exactly what ``res.simulate(1, seed=rngs[j])`` gives (the same draws from
the same generator, in the same order: the random effects' q normals first, then the
response), so a bootstrap replicate does not depend on how replicates are grouped.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["simulate_matrix"]


def _spherical_draws(res: Any, rngs: Sequence[np.random.Generator], use_u: bool) -> np.ndarray | None:
    """Z Lambda u for each generator's u ~ N(0, I_q) as columns (n, k); None with use_u."""
    if use_u:
        return None
    q = res.re.q
    U = np.empty((q, len(rngs)))
    for j, rng in enumerate(rngs):
        U[:, j] = rng.standard_normal(q)
    # the CSR product takes each column as its matrix-vector product would
    return np.asarray(res._ZLambda @ U)


def simulate_matrix(res: Any, rngs: Sequence[np.random.Generator], use_u: bool = False) -> np.ndarray:
    """Simulate one response per generator from a fitted LMM or GLMM.

    Parameters
    ----------
    res : LMMResult or GLMMResult
        The fitted model.
    rngs : sequence of numpy.random.Generator
        One generator per response; each is advanced as ``res.simulate(1, seed=rng)`` would.
    use_u : bool
        Condition on the fitted random effects (lme4's ``use.u = TRUE``).

    Returns
    -------
    ndarray (n, len(rngs))
        Binomial responses are proportions of the trials, as ``simulate`` gives them.
    """
    model = res.model
    n, k = res.nobs, len(rngs)
    base = model.X @ res.beta + model.offset
    zl = _spherical_draws(res, rngs, use_u)
    out = np.empty((n, k))
    if res.is_linear:
        sigma = res.sigma
        w = model.weights if model.weights is not None else np.ones(n)
        sw = np.sqrt(w)
        for j, rng in enumerate(rngs):
            zb = res._Zb if zl is None else zl[:, j] * sigma
            out[:, j] = base + zb + sigma * rng.standard_normal(n) / sw
        return out
    fam = res.family
    zeros, ones = np.zeros(n), np.ones(n)
    trials = np.round(model.pw).astype(int) if fam.name == "binomial" else None
    for j, rng in enumerate(rngs):
        eta = base + (res._Zb if zl is None else zl[:, j])
        mu = fam.eval(eta, zeros, ones)[0]
        out[:, j] = _draw(fam, rng, mu, res.sigma, trials)
    return out


def _draw(fam: Any, rng: np.random.Generator, mu: np.ndarray, sigma: float,
          trials: np.ndarray | None) -> np.ndarray:
    """One response of the GLMM's family with means mu (binomial: proportions of `trials`)."""
    name = fam.name
    if name == "binomial":
        assert trials is not None
        return rng.binomial(trials, mu) / np.maximum(trials, 1)
    if name == "poisson":
        return rng.poisson(mu).astype(np.float64)
    if name == "negative.binomial":
        th = fam.theta
        return rng.negative_binomial(th, th / (th + mu)).astype(np.float64)
    if name == "Gamma":
        shape = 1 / sigma ** 2
        return rng.gamma(shape, mu / shape)
    if name == "gaussian":
        return rng.normal(mu, sigma)
    return rng.wald(mu, 1 / sigma ** 2)
