"""Scaled (quantile) residuals from simulations: DHARMa's method for pymer fits.

For each observation, the scaled residual is the position of the observed value in
its simulated distribution: a value drawn uniformly between the fraction of
simulations below it and the fraction at or below it (the probability integral
transform, randomized for discrete responses: Dunn and Smyth 1996). Under a correct
model the residuals are uniform on (0, 1), whatever the family.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from matplotlib.figure import Figure
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats

from . import tests
from .htest import HTest
from .simulate import (model_parts, observed_pearson_ss, refit_residuals, simulate_responses)


def pit_residuals(observed: np.ndarray, simulated: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomized PIT residuals: U(P(sim < y), P(sim <= y)) per row, U from `rng`."""
    y = np.asarray(observed, dtype=np.float64)[:, None]
    S = np.asarray(simulated, dtype=np.float64)
    below = np.mean(S < y, axis=1)
    upto = np.mean(S <= y, axis=1)
    return below + rng.random(y.shape[0]) * (upto - below)


def check_n_sim(n_sim: Any) -> int:
    if isinstance(n_sim, bool) or not isinstance(n_sim, Integral) or n_sim < 2:
        raise ValueError(f"n_sim must be an integer >= 2 (the number of simulations), not {n_sim!r}")
    return int(n_sim)


def _seed_sequence(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, not {seed!r}")
    return np.random.SeedSequence(seed)


class SimulatedResiduals:
    """Scaled residuals of a fit from simulated responses (DHARMa's object).

    Attributes
    ----------
    residuals : ndarray (n,)
        Scaled residuals in [0, 1].
    simulated : ndarray (n, n_sim)
        The simulated responses.
    observed : ndarray (n,)
        The response (binomial: as proportions).
    fitted : ndarray (n,)
        The fitted means (binomial: proportions): given the random effects'
        conditional modes, or for ``conditional=False`` at the population level
        (random effects 0). The dispersion test and the residual plot use them.
    n_sim : int
    integer_response : bool
        Whether the response is discrete (counts, binomial).
    refit : bool
        Whether the residuals come from refits (a parametric bootstrap).
    conditional : bool or None
        Whether simulated given the fitted random effects (None: simulations given
        by hand, :func:`create_dharma`).
    """

    def __init__(self, observed: ArrayLike, simulated: ArrayLike, fitted: ArrayLike | None = None, *,
                 integer_response: bool | None = None, seed: Any = 123, refit_residuals: ArrayLike | None = None,
                 observed_residuals: ArrayLike | None = None, pearson: Any = None,
                 conditional: bool | None = None, groups: Any = None) -> None:
        self.observed = np.array(observed, dtype=np.float64).ravel()
        self.simulated = np.array(simulated, dtype=np.float64)
        n = self.observed.size
        if self.simulated.ndim != 2 or self.simulated.shape[0] != n:
            raise ValueError(f"simulated must be a matrix with one row per observation ({n}), "
                             f"not of shape {self.simulated.shape}")
        self.n_sim = check_n_sim(self.simulated.shape[1])
        if not (np.all(np.isfinite(self.observed)) and np.all(np.isfinite(self.simulated))):
            raise ValueError("observed and simulated responses must be finite (no NaN or inf)")
        self.fitted = (self.simulated.mean(axis=1) if fitted is None
                       else np.array(fitted, dtype=np.float64).ravel())
        if self.fitted.size != n:
            raise ValueError(f"fitted has {self.fitted.size} values, the response {n}")
        if integer_response is None:
            integer_response = bool(np.all(self.observed == np.round(self.observed))
                                    and np.all(self.simulated == np.round(self.simulated)))
        self.integer_response = bool(integer_response)
        self.refit = refit_residuals is not None
        self.conditional = conditional
        self.groups = groups
        self._seed = _seed_sequence(seed)
        # what the PIT compares: responses, or (refit) residuals of the fit and of the refits
        self._obs_cmp = self.observed if not self.refit else np.asarray(observed_residuals, dtype=np.float64)
        self._sim_cmp = self.simulated if not self.refit else np.asarray(refit_residuals, dtype=np.float64)
        self._pearson = pearson
        self.residuals = pit_residuals(self._obs_cmp, self._sim_cmp, np.random.default_rng(self._seed))

    def __repr__(self):
        q = np.quantile(self.residuals, [0, 0.25, 0.5, 0.75, 1])
        how = ("refits to simulated responses" if self.refit else
               "simulations" + ("" if self.conditional is None else
                                " given the fitted random effects" if self.conditional else
                                " with new random effects"))
        return (f"Simulated (scaled) residuals: {self.residuals.size} observations"
                + (f" in {self.residuals.size} groups" if self.groups is not None else "")
                + f", {self.n_sim} {how}\n"
                f"  quantiles (0, 25, 50, 75, 100%): {' '.join(f'{v:.4f}' for v in q)}")

    # ---- grouping ----------------------------------------------------------------
    def group(self, by: ArrayLike) -> "SimulatedResiduals":
        """Residuals per group: observed and simulated responses (and fitted values)
        summed within each group, then scaled again (DHARMa's recalculateResiduals).

        Parameters
        ----------
        by : array_like
            One group label per observation. The result's ``groups`` holds the
            labels, sorted, in the order of its residuals.
        """
        codes, labels = self._codes(by, "by")
        k = len(labels)

        def agg(a):
            a = np.asarray(a, dtype=np.float64)
            out = np.zeros((k,) + a.shape[1:])
            np.add.at(out, codes, a)
            return out

        kw = {}
        if self.refit:
            kw = {"refit_residuals": agg(self._sim_cmp), "observed_residuals": agg(self._obs_cmp)}
        return SimulatedResiduals(agg(self.observed), agg(self.simulated), agg(self.fitted),
                                  integer_response=self.integer_response, seed=self._seed,
                                  conditional=self.conditional, groups=pd.Index(labels), **kw)

    def _codes(self, by, name):
        n = self.residuals.size
        if isinstance(by, str):
            raise TypeError(f"{name} must be one value per observation (an array or Series), not the "
                            f"string {by!r}: pass the column itself, e.g. data[{by!r}]")
        try:
            values = pd.Series(np.asarray(by).ravel() if not isinstance(by, pd.Series) else by.to_numpy())
        except Exception:
            raise TypeError(f"{name} must be array-like, not {type(by).__name__}") from None
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} values; the residuals have {n} (one per "
                             f"{'group' if self.groups is not None else 'observation'})")
        if values.isna().any():
            raise ValueError(f"{name} has missing values (first at position {int(np.argmax(values.isna()))})")
        codes, labels = pd.factorize(values, sort=True)
        return codes, list(labels)

    def _numeric(self, x, name):
        a = np.asarray(x).ravel()
        n = self.residuals.size
        if a.size != n:
            raise ValueError(f"{name} has {a.size} values; the residuals have {n}")
        if np.issubdtype(a.dtype, np.datetime64) or np.issubdtype(a.dtype, np.timedelta64):
            bad = np.isnat(a)
            a = np.where(bad, np.nan, a.astype("int64").astype(np.float64))
        try:
            v = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric (or dates), not {a.dtype}") from None
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} has missing or non-finite values (first at position "
                             f"{int(np.argmax(~np.isfinite(v)))})")
        return v

    # ---- tests -------------------------------------------------------------------
    def test_uniformity(self, alternative: Literal["two.sided", "greater", "less"] = "two.sided") -> HTest:
        """Kolmogorov-Smirnov test of the residuals against the uniform distribution."""
        return tests.uniformity(self.residuals, alternative)

    def test_dispersion(self, alternative: Literal["two.sided", "greater", "less"] = "two.sided") -> HTest:
        """Simulation-based test for over- (``"greater"``) and underdispersion (``"less"``).

        Without refits: the variance of the observed raw residuals
        var(observed - fitted) against the variances of the simulated ones
        var(simulated - fitted); the statistic is their ratio. With refits: the sum
        of squared Pearson residuals of the fit against those of the refits.
        """
        if self.refit and self._pearson is not None:
            return tests.dispersion_pearson(self._pearson[0], self._pearson[1], alternative)
        center = np.zeros_like(self.fitted) if self.refit else self.fitted
        return tests.dispersion(self._obs_cmp, self._sim_cmp, center, alternative)

    def test_zero_inflation(self, alternative: Literal["two.sided", "greater", "less"] = "two.sided") -> HTest:
        """Observed against simulated number of zeros (the statistic is their ratio)."""
        return tests.zero_inflation(self.observed, self.simulated, alternative)

    def test_outliers(self, alternative: Literal["two.sided", "greater", "less"] = "two.sided",
                      margin: Literal["both", "upper", "lower"] = "both",
                      type: Literal["default", "binomial", "bootstrap"] = "default") -> HTest:
        """Test the number of observations outside the simulated range.

        Parameters
        ----------
        alternative : {"two.sided", "greater", "less"}
        margin : {"both", "upper", "lower"}
        type : {"default", "binomial", "bootstrap"}
            "binomial": the count against Binomial(n, 1/(n_sim + 1)) per margin,
            exact for continuous responses; "bootstrap": the outlier frequency
            against that of each simulation among the others, right also for
            discrete responses. "default": bootstrap for discrete responses,
            binomial otherwise.
        """
        if type == "default":
            type = "bootstrap" if self.integer_response else "binomial"
        return tests.outliers(self.residuals, self.n_sim, margin=margin, alternative=alternative,
                              type=type, simulated=self._sim_cmp)

    def rank_predictor(self, predictor: ArrayLike | None = None, rank: bool = True) -> np.ndarray:
        """The predictor of the residual plot and quantile test: the fitted values (or
        `predictor`), rank-transformed to [0, 1] when `rank`."""
        x = self.fitted if predictor is None else self._numeric(predictor, "predictor")
        if not rank:
            return x
        r = stats.rankdata(x, method="average")
        return (r - 1.0) / max(r.size - 1, 1)

    def test_quantiles(self, predictor: ArrayLike | None = None, quantiles: tuple[float, ...] = (0.25, 0.5, 0.75),
                       rank: bool = True) -> HTest:
        """Quantile regressions of the residuals on the predictor (by default the
        rank-transformed fitted values) at `quantiles`: does any deviate from the
        flat line at its quantile? Per-quantile fits and p-values in ``.table``."""
        q = np.asarray(quantiles, dtype=np.float64).ravel()
        if q.size == 0 or np.any(~(q > 0) | ~(q < 1)):
            raise ValueError(f"quantiles must lie strictly between 0 and 1, not {list(quantiles)}")
        if self.residuals.size < 3:
            raise ValueError("the quantile test needs at least 3 residuals")
        return tests.quantiles(self.residuals, self.rank_predictor(predictor, rank), q)

    def test_categorical(self, by: ArrayLike) -> HTest:
        """Residuals against a categorical predictor: KS uniformity within each level
        (Holm-adjusted, in ``.table``) and Levene's test of equal variances."""
        codes, labels = self._codes(by, "by")
        if len(labels) < 2:
            raise ValueError(f"by has a single level ({labels[0]!r}): the categorical test needs at least 2")
        return tests.categorical(self.residuals, codes, labels)

    def test_temporal_autocorrelation(self, time: ArrayLike, alternative: Literal["two.sided", "greater", "less"] = "two.sided") -> HTest:
        """Durbin-Watson test of the residuals ordered by `time` (unique values; for
        several observations per time point, test ``group(time)`` residuals)."""
        t = self._numeric(time, "time")
        if np.unique(t).size != t.size:
            raise ValueError("time has repeated values: aggregate the residuals per time point first, "
                             "r.group(time).test_temporal_autocorrelation(sorted unique times)")
        return tests.durbin_watson(self.residuals[np.argsort(t, kind="stable")], alternative)

    def test_spatial_autocorrelation(self, x: ArrayLike, y: ArrayLike, alternative: Literal["two.sided", "greater", "less"] = "two.sided") -> HTest:
        """Moran's I of the residuals with inverse-distance weights between the
        positions (x, y), which must be distinct (aggregate with ``group`` first)."""
        xv, yv = self._numeric(x, "x"), self._numeric(y, "y")
        if xv.size < 4:
            raise ValueError("Moran's I needs at least 4 positions")
        if len(set(zip(xv.tolist(), yv.tolist()))) != xv.size:
            raise ValueError("several residuals share a position (x, y): aggregate them per position first "
                             "with r.group(...)")
        return tests.moran(self.residuals, xv, yv, alternative)

    # ---- plot --------------------------------------------------------------------
    def plot(self, quantreg: bool = True, figsize: tuple[float, float] | None = None) -> Figure:
        """DHARMa's two panels: a uniform QQ plot of the residuals annotated with the
        KS, dispersion and outlier tests, and the residuals against the
        rank-transformed fitted values with the 0.25/0.5/0.75 quantile regression
        lines (red where they deviate). Returns a matplotlib Figure."""
        from .plot import plot_residuals
        return plot_residuals(self, quantreg=quantreg, figsize=figsize)


def simulate_residuals(m: Any, n_sim: int = 250, seed: Any = 123, refit: bool = False,
                       conditional: bool = True) -> SimulatedResiduals:
    """Scaled residuals of a fitted model from simulated responses (DHARMa's
    ``simulateResiduals``).

    Parameters
    ----------
    m : LMMResult, GLMMResult or TMBResult
        A fit of :func:`pymer.lmer`, :func:`pymer.glmer` (any family),
        :func:`pymer.glmer_nb` or :func:`pymer.glmmtmb` (with its zero inflation
        and dispersion model; not the genpois family).
    n_sim : int, default 250
        Number of simulated responses.
    seed : int or None, default 123
        Seed of the simulations and of the randomization of discrete residuals
        (the same seed gives the same residuals).
    refit : bool, default False
        Refit the model to each simulated response and compare the observed
        residuals with the refits' residuals (a parametric bootstrap; n_sim fits).
    conditional : bool, default True
        Simulate given the fitted random effects (their conditional modes), as
        DHARMa >= 0.5 does; False draws new random effects, which puts their
        variance into the reference distribution (and can hide overdispersion).

    Returns
    -------
    SimulatedResiduals
    """
    parts = model_parts(m)
    n_sim = check_n_sim(n_sim)
    if not isinstance(refit, (bool, np.bool_)):
        raise TypeError(f"refit must be True or False, not {refit!r}")
    if not isinstance(conditional, (bool, np.bool_)):
        raise TypeError(f"conditional must be True or False, not {conditional!r}")
    ss = _seed_sequence(seed)
    sim_seed, pit_seed = ss.spawn(2)
    rng = np.random.default_rng(sim_seed)
    simulated = simulate_responses(parts, n_sim, rng, bool(conditional))
    # the center of the simulated distributions: the conditional means, or with new
    # random effects the population-level ones (the conditional means are fitted to
    # the observed response, so against them it would look underdispersed)
    fitted = parts.fitted if conditional else parts.population_fitted()
    kw = {}
    if refit:
        res, pearson, kept = refit_residuals(parts, simulated)
        simulated = simulated[:, kept]
        kw = {"refit_residuals": res, "observed_residuals": parts.observed - parts.fitted,
              "pearson": (observed_pearson_ss(parts), pearson)}
    return SimulatedResiduals(parts.observed, simulated, fitted, integer_response=parts.integer_response,
                              seed=pit_seed, conditional=bool(conditional), **kw)


def create_dharma(simulated: ArrayLike, observed: ArrayLike, fitted: ArrayLike | None = None,
                  integer_response: bool | None = None, seed: Any = 123) -> SimulatedResiduals:
    """Scaled residuals from simulations made elsewhere (DHARMa's ``createDHARMa``).

    Parameters
    ----------
    simulated : array_like (n, n_sim)
        Responses simulated from the model, one row per observation.
    observed : array_like (n,)
    fitted : array_like (n,), optional
        Fitted means (default: the row means of `simulated`).
    integer_response : bool, optional
        Whether the response is discrete (default: all values whole numbers).
    seed : int or None
        Seed of the randomization between P(sim < y) and P(sim <= y).
    """
    return SimulatedResiduals(observed, simulated, fitted, integer_response=integer_response, seed=seed)
