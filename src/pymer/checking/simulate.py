"""Responses simulated from a fitted pymer model, and residuals of refits to them.

Everything this package needs from a fit goes through :func:`model_parts`: the
observed response, the fitted means, the family, prior weights, sigma, and for new
random effects X beta + offset, Z and Lambda(theta). A result with a likelihood of
its own (glmmTMB's families, zero inflation, dispersion per row) answers instead
through its ``simulation_parts()`` method: a :class:`ModelParts` whose ``sampler``
draws the responses (given the fitted random effects, or new ones) and whose
``population`` holds the means with the random effects at zero.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import warn

# families whose response is discrete (counts, or binomial proportions of counts)
DISCRETE_FAMILIES = ("binomial", "poisson", "negative.binomial")


@dataclass
class ModelParts:
    observed: np.ndarray          # the response (binomial: proportions)
    fitted: np.ndarray            # conditional means (random effects at their modes)
    family: str                   # "gaussian" for a linear mixed model
    # the fit's family: a pymer Family or glmmTMB's (None for a linear mixed model), read by
    # duck typing (eval, name, theta)
    fam: Any
    weights: np.ndarray           # prior weights (binomial: numbers of trials)
    sigma: float                  # residual scale (1 for families without one)
    scaled_re: bool               # random effects on the sigma scale (b = sigma Lambda u): LMMs
    nb_theta: float | None
    # the fitted model (lmer, glmer, glmer_nb or glmmtmb result; checking sits below the result
    # classes, so it is read by duck typing: model_parts checks the attributes it needs)
    result: Any
    # a fit that simulates itself: sampler(rng, n_sim, conditional) -> (n, n_sim) responses
    # on the scale of `observed`; population: means with the random effects at zero
    sampler: Callable[[np.random.Generator, int, bool], np.ndarray] | None = None
    population: np.ndarray | None = None
    discrete: bool | None = None

    @property
    def integer_response(self) -> bool:
        if self.discrete is not None:
            return self.discrete
        return self.family in DISCRETE_FAMILIES

    def population_eta(self):
        m = self.result
        return m.model.X @ m.beta + m.model.offset

    def population_fitted(self):
        """Means with all random effects at zero (lme4's predict(re.form = NA))."""
        if self.population is not None:
            return self.population
        eta = self.population_eta()
        if self.fam is None:
            return eta
        return self.fam.eval(eta, np.zeros_like(eta), np.ones_like(eta))[0]


def model_parts(m) -> ModelParts:
    """What the simulations need from a fitted lmer, glmer, glmer_nb or glmmtmb result
    (the last through its ``simulation_parts()``)."""
    own = getattr(m, "simulation_parts", None)
    if callable(own) and not isinstance(m, type):
        return _check_weights(own())
    needed = ("fitted", "model", "re", "theta", "beta", "sigma", "refit", "residuals")
    if isinstance(m, type) or not all(hasattr(m, a) for a in needed) or not hasattr(m.model, "X"):
        raise TypeError("simulate_residuals() needs a fitted pymer model (the result of lmer, glmer or "
                        f"glmer_nb), not {type(m).__name__}")
    fam = getattr(m, "family", None)
    n = int(m.nobs)
    if fam is None:                               # linear mixed model
        w = m.model.weights
        parts = ModelParts(np.asarray(m.model.y, dtype=np.float64), np.asarray(m.fitted, dtype=np.float64),
                           "gaussian", None, np.ones(n) if w is None else np.asarray(w, dtype=np.float64),
                           float(m.sigma), True, None, m)
    else:
        parts = ModelParts(np.asarray(m.model.y, dtype=np.float64), np.asarray(m.fitted, dtype=np.float64),
                           fam.name, fam, np.asarray(m.model.pw, dtype=np.float64), float(m.sigma),
                           False, fam.theta if fam.name == "negative.binomial" else None, m)
    return _check_weights(parts)


def _check_weights(parts: ModelParts) -> ModelParts:
    zero = np.flatnonzero(~(parts.weights > 0))
    if zero.size:
        what = "numbers of trials" if parts.family == "binomial" else "prior weights"
        raise ValueError(f"simulated residuals need positive {what}: {zero.size} observations have 0 "
                         f"(rows {', '.join(str(i + 1) for i in zero[:5])}{', ...' if zero.size > 5 else ''}); "
                         "refit without them")
    return parts


def simulate_responses(parts: ModelParts, n_sim: int, rng, conditional: bool) -> np.ndarray:
    """An (n, n_sim) matrix of responses simulated from the fit.

    conditional: given the random effects at their conditional modes (the fitted
    means); otherwise with new random effects b = Lambda(theta) u, u ~ N(0, I),
    times sigma for a linear mixed model. For GLMMs of families with a dispersion
    (Gamma, inverse Gaussian, gaussian) b is not scaled by sigma, as lme4's
    simulate() draws them (checked against R: the between-group variance of its
    simulations is that of Lambda(theta) u).
    """
    if parts.sampler is not None:
        return np.asarray(parts.sampler(rng, n_sim, conditional), dtype=np.float64)
    if conditional:
        mu = np.repeat(parts.fitted[:, None], n_sim, axis=1)
    else:
        m = parts.result
        U = rng.standard_normal((m.re.q, n_sim))
        B = m.re.Lambda(m.theta) @ U
        if parts.scaled_re:
            B = B * parts.sigma
        eta = parts.population_eta()[:, None] + np.asarray(m.re.Z() @ B)
        if parts.fam is None:
            mu = eta
        else:
            mu = parts.fam.eval(eta.ravel(), np.zeros(eta.size), np.ones(eta.size))[0].reshape(eta.shape)
    return draw_response(parts, mu, rng)


def draw_response(parts: ModelParts, mu: np.ndarray, rng) -> np.ndarray:
    """Draw responses with means mu (n, k) from the fit's family, prior weights and scale."""
    w = parts.weights[:, None]
    fam, s = parts.family, parts.sigma
    if fam == "gaussian":
        return rng.normal(mu, s / np.sqrt(w))
    if fam == "binomial":
        trials = np.round(parts.weights).astype(np.int64)[:, None]
        return rng.binomial(trials, np.clip(mu, 0.0, 1.0)) / np.maximum(trials, 1)
    if fam == "poisson":
        return rng.poisson(mu).astype(np.float64)
    if fam == "negative.binomial":
        th = parts.nb_theta
        assert th is not None           # model_parts sets it for the negative binomial family
        return rng.negative_binomial(th, th / (th + mu)).astype(np.float64)
    if fam == "Gamma":
        shape = w / s ** 2                      # variance mu^2 sigma^2 / w
        return rng.gamma(shape, mu / shape)
    if fam == "inverse.gaussian":
        return rng.wald(mu, w / s ** 2)         # variance mu^3 sigma^2 / w
    raise ValueError(f"cannot simulate from the {fam} family")


def refit_residuals(parts: ModelParts, simulated: np.ndarray):
    """Refit the model to each simulated response (a parametric bootstrap).

    Returns (residuals (n, k) of the refits, their sums of squared Pearson
    residuals (k,), the indices of the k simulations whose refit succeeded).
    Refits that fail are left out with a warning; their convergence warnings
    are not repeated.
    """
    m = parts.result
    res, ss, kept, failed = [], [], [], []
    for j in range(simulated.shape[1]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = m.refit(np.array(simulated[:, j]))
        except Exception as exc:       # a simulated response that cannot be fitted
            failed.append(f"{type(exc).__name__}: {exc}")
            continue
        res.append(simulated[:, j] - np.asarray(f.fitted))
        ss.append(float(np.sum(np.asarray(f.residuals("pearson")) ** 2)))
        kept.append(j)
    if failed:
        warn(f"{len(failed)} of {simulated.shape[1]} refits to simulated responses failed and are "
             f"left out (first: {failed[0]})", RuntimeWarning)
    if len(kept) < 2:
        raise RuntimeError("fewer than 2 refits to simulated responses succeeded: cannot compute "
                           "parametric-bootstrap residuals")
    return np.column_stack(res), np.asarray(ss), np.asarray(kept)


def observed_pearson_ss(parts: ModelParts) -> float:
    return float(np.sum(np.asarray(parts.result.residuals("pearson")) ** 2))
