"""Linear models by least squares, as R's ``lm()``."""
from __future__ import annotations

from typing import Any, Literal
from numpy.typing import ArrayLike
from ..report.summary import Summary
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from .base import FixedModel, FixedResult, aliased_columns, check_response, fixed_model, wls


class LMResult(FixedResult):
    """A fitted linear model (R's ``lm``).

    Attributes follow R's accessors: ``coef`` (NaN for aliased columns), ``vcov``,
    ``sigma``, ``fitted``, ``loglik``, ``aic``, ``bic``, ``deviance``,
    ``df_residual``, ``nobs``, ``r_squared``, ``adj_r_squared``, ``fstatistic``;
    methods ``residuals``, ``predict``, ``summary``.
    """

    family = None

    def __init__(self, model: FixedModel) -> None:
        self.model = model
        self.mf = mf = model.mf
        y = check_response(mf, "lm")
        w = self.prior_weights
        sw = np.sqrt(w)
        self.keep = aliased_columns(mf.X, mf.fixef_names, sw, tol=1e-7)
        self.beta, self.Rinv = wls(mf.X[:, self.keep], y - self.offset, sw)
        self.y = y

    @cached_property
    def fitted(self) -> np.ndarray:
        """Fitted values X beta + offset."""
        return self.mf.X[:, self.keep] @ self.beta + self.offset

    def residuals(self, type: Literal["response", "working", "pearson", "deviance"] = "response") -> np.ndarray:
        """Residuals: ``"response"`` / ``"working"`` (y - fitted) or ``"pearson"`` /
        ``"deviance"`` (times the square root of the prior weights), as R's residuals.lm."""
        r = self.y - self.fitted
        if type in ("response", "working"):
            return r
        if type in ("pearson", "deviance"):
            return r * np.sqrt(self.prior_weights)
        raise ValueError(f"unknown residual type {type!r}; use 'response', 'pearson', "
                         "'deviance' or 'working'")

    @property
    def deviance(self) -> float:
        """Weighted residual sum of squares."""
        return float(np.sum(self.prior_weights * (self.y - self.fitted) ** 2))

    @property
    def dispersion(self) -> float:
        return self.deviance / self.df_residual if self.df_residual > 0 else np.nan

    @property
    def sigma(self) -> float:
        """Residual standard error sqrt(RSS / df.residual)."""
        return float(np.sqrt(self.dispersion))

    @property
    def df(self) -> int:
        """Number of parameters of logLik: coefficients and sigma."""
        return self.rank + 1

    @property
    def loglik(self) -> float:
        """Gaussian log-likelihood at the ML sigma (R's logLik.lm; zero weights left out)."""
        w = self.prior_weights
        pos = w > 0
        n = int(pos.sum())
        return float(0.5 * (np.sum(np.log(w[pos])) - n * (np.log(2 * np.pi) + 1 - np.log(n)
                                                         + np.log(self.deviance))))

    # ---- summary.lm's statistics -------------------------------------------------------
    @cached_property
    def _ss(self):
        """(model sum of squares, residual sum of squares) as summary.lm computes them."""
        w = self.prior_weights
        f = self.fitted      # R 4.2's summary.lm: the offset stays in (same R^2 as absorbing it)
        if self.has_intercept:
            m = np.sum(w * f) / np.sum(w)
            mss = float(np.sum(w * (f - m) ** 2))
        else:
            mss = float(np.sum(w * f ** 2))
        return mss, self.deviance

    @property
    def r_squared(self) -> float:
        mss, rss = self._ss
        return mss / (mss + rss)

    @property
    def adj_r_squared(self) -> float:
        n_int = 1 if self.has_intercept else 0
        return 1 - (1 - self.r_squared) * ((self.nobs - n_int) / self.df_residual)

    @property
    def fstatistic(self) -> tuple[float, int, int] | None:
        """(F value, numerator df, denominator df), or None for an intercept-only model."""
        num = self.rank - (1 if self.has_intercept else 0)
        if num <= 0:
            return None
        mss, _ = self._ss
        return (mss / num) / self.dispersion, num, self.df_residual

    @cached_property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, t value, Pr(>|t|) (NaN rows for aliased columns)."""
        se = np.full(len(self.coef), np.nan)
        se[self.keep] = np.sqrt(np.diag(self.vcov.to_numpy()))
        est = self.coef.to_numpy()
        t = est / se
        p = 2 * stats.t.sf(np.abs(t), self.df_residual)
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": t, "Pr(>|t|)": p},
                            index=self.coef_names)

    def predict(self, newdata: Any = None, se_fit: bool = False,
                interval: Literal["confidence", "prediction"] | None = None,
                level: float = 0.95) -> np.ndarray | pd.DataFrame:
        """Predictions, as R's predict.lm.

        Parameters
        ----------
        newdata : DataFrame, optional
            New rows (default: the fitted data). Rows with a missing value in a
            variable the model uses predict NaN.
        se_fit : bool
            Add the standard error of the fitted mean (column ``se_fit``).
        interval : {None, "confidence", "prediction"}
            Add ``lwr`` and ``upr``: a t interval for the mean, or for a new
            observation (with unit prior weight).
        level : float

        Returns
        -------
        ndarray when neither `se_fit` nor `interval` is asked for, else a DataFrame
        with ``fit`` (and ``lwr``, ``upr``, ``se_fit``).
        """
        if interval not in (None, "none", "confidence", "prediction"):
            raise ValueError(f"interval must be None, 'confidence' or 'prediction', not {interval!r}")
        self._check_level(level)
        fit, se = self._link_prediction(newdata)
        if not se_fit and interval in (None, "none"):
            return fit
        out = pd.DataFrame({"fit": fit})
        if interval in ("confidence", "prediction"):
            q = stats.t.ppf((1 + level) / 2, self.df_residual)
            half = q * (se if interval == "confidence" else np.sqrt(se ** 2 + self.dispersion))
            out["lwr"], out["upr"] = fit - half, fit + half
        if se_fit:
            out["se_fit"] = se
        return out

    def summary(self) -> Summary:
        """R's summary.lm, printed as R prints it."""
        from .summary import lm_summary
        return lm_summary(self)


def lm(formula: str, data: Any, weights: str | ArrayLike | None = None,
       offset: str | ArrayLike | None = None) -> LMResult:
    """Fit a linear model by (weighted) least squares, as R's ``lm()``.

    Parameters
    ----------
    formula : str
        ``"y ~ x + f"`` in R's syntax (the formula machinery of :func:`pymer.lmer`,
        without random-effects terms).
    data : pandas.DataFrame or dict of arrays
        Never modified; rows with missing values in the variables used are left out.
    weights, offset : str or array_like, optional
        Prior weights and an offset: a column name or one value per row.

    Returns
    -------
    LMResult
    """
    return LMResult(fixed_model(lm, formula, data, weights, offset))
