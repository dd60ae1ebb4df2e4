"""What lm and glm fits share: the model frame, least squares by QR, aliased columns,
coefficients with NA, the covariance matrix and predictions for new data."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from ..predictions.response import PredictedResponse
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import linalg

from ..call import ModelCall
from ..errors import FormulaError, PymerDataError
from ..formula import ModelFrame, parse_formula
from ..predictions.newdata import new_model_matrix
from ..validate import RankDeficiencyWarning, drop_aliased_columns


def model_frame(formula: str, data: Any, weights: str | ArrayLike | None, offset: str | ArrayLike | None,
                what: str) -> ModelFrame:
    """The ModelFrame of a fixed-effects formula (an error for random-effects terms)."""
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string such as 'y ~ x', not {type(formula).__name__}")
    mf = parse_formula(formula, data, weights=weights, offset=offset, require_random=False)
    if mf.random:
        bars = ", ".join(f"({t.lhs} | {t.group})" for t in mf.random)
        raise FormulaError(f"{what}() fits fixed effects only, but the formula has the random-effects "
                           f"term(s) {bars}; use pymer.lmer / pymer.glmer for mixed models")
    return mf


def aliased_columns(X: np.ndarray, names: list[str], sqrt_w: np.ndarray, tol: float) -> np.ndarray:
    """Indices of the columns R's pivoted QR keeps (dqrdc2: later columns that are
    linear combinations of earlier ones are aliased) on the weighted rows."""
    ok = sqrt_w > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficiencyWarning)   # R's lm reports NA, no warning
        keep, _ = drop_aliased_columns(X[ok] * sqrt_w[ok, None], names, tol=tol)
    return keep


def wls(X: np.ndarray, z: np.ndarray, sqrt_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares by QR (LAPACK): coefficients and the inverse of R."""
    Q, R = linalg.qr(X * sqrt_w[:, None], mode="economic")
    beta = linalg.solve_triangular(R, Q.T @ (z * sqrt_w))
    Rinv = linalg.solve_triangular(R, np.eye(R.shape[0]))
    return beta, Rinv


@dataclass
class FixedModel:
    """What a fixed-effects fit was made from: the model frame and the call
    (``call.data`` is the caller's data, never modified)."""

    mf: ModelFrame
    call: ModelCall

    @property
    def data_name(self) -> str | None:
        return self.call.data_name


def fixed_model(fn: Any, formula: str, data: Any, weights: str | ArrayLike | None, offset: str | ArrayLike | None,
                **extra: Any) -> FixedModel:
    mf = model_frame(formula, data, weights, offset, fn.__name__)
    return FixedModel(mf, ModelCall(fn, formula, data, {"weights": weights, "offset": offset, **extra}))


class FixedResult(ABC):
    """Accessors common to lm and glm fits.

    Subclasses set ``model`` (a :class:`FixedModel`), ``mf`` (its model frame),
    ``keep`` (indices of the non-aliased columns), ``beta`` (their estimates),
    ``Rinv`` (inverse R factor of the weighted QR) and define ``dispersion``,
    ``loglik`` and ``df``.
    """

    model: FixedModel
    mf: ModelFrame
    keep: np.ndarray
    beta: np.ndarray
    Rinv: np.ndarray

    # the anova() protocol: not a REML fit; npar is ``df``
    REML = False

    @property
    def is_linear(self) -> bool:
        """A linear model (lm, or a glm of the gaussian family with the identity link)."""
        return True

    @property
    @abstractmethod
    def dispersion(self) -> float:
        """The dispersion (sigma squared of lm; 1, or the Pearson estimate, of glm)."""

    @property
    @abstractmethod
    def loglik(self) -> float:
        """The log-likelihood (R's logLik)."""

    @property
    @abstractmethod
    def df(self) -> int:
        """The number of parameters of the log-likelihood."""

    @property
    def formula(self) -> str:
        return self.mf.formula

    @property
    def nobs(self) -> int:
        """Observations with non-zero prior weight (R's nobs())."""
        return int(np.sum(self.prior_weights > 0))

    @property
    def prior_weights(self) -> np.ndarray:
        w = self.mf.weights
        return np.ones(self.mf.n) if w is None else np.asarray(w, dtype=np.float64)

    @property
    def offset(self) -> np.ndarray:
        return np.zeros(self.mf.n) if self.mf.offset is None else np.asarray(self.mf.offset)

    @property
    def rank(self) -> int:
        return len(self.keep)

    @property
    def has_intercept(self) -> bool:
        return "(Intercept)" in self.mf.fixef_names

    @property
    def coef_names(self) -> list:
        return list(self.mf.fixef_names)

    @property
    def fixef_names(self) -> list:
        """Names of the estimated (non-aliased) coefficients."""
        return [self.mf.fixef_names[j] for j in self.keep]

    @cached_property
    def coef(self) -> pd.Series:
        """Coefficients with R's names; NaN (R's NA) for aliased columns."""
        out = np.full(len(self.mf.fixef_names), np.nan)
        out[self.keep] = self.beta
        return pd.Series(out, index=self.coef_names, name="coef")

    @property
    def fixef(self) -> pd.Series:
        """The estimated coefficients (aliased ones left out), as pymer's mixed fits name them."""
        return pd.Series(np.asarray(self.beta), index=self.fixef_names, name="fixef")

    @property
    def df_residual(self) -> int:
        return self.nobs - self.rank

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the estimated coefficients (R's vcov(): aliased ones left out)."""
        V = self.dispersion * (self.Rinv @ self.Rinv.T)
        return pd.DataFrame(V, index=self.fixef_names, columns=self.fixef_names)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    @property
    def bic(self) -> float:
        return float(-2.0 * self.loglik + np.log(self.nobs) * self.df)

    def _X_new(self, newdata):
        """(rows with complete data, model matrix of those rows (kept columns), offset)."""
        if newdata is None:
            return np.arange(self.mf.n), self.mf.X[:, self.keep], self.offset
        ok, nd = new_model_matrix(self.mf, newdata, include_random=False)
        off = np.zeros(nd.X.shape[0]) if nd.offset is None else np.asarray(nd.offset)
        return ok, np.asarray(nd.X, dtype=np.float64)[:, self.keep], off

    def _link_prediction(self, newdata):
        """Linear predictor and its standard error (NaN for rows with missing values)."""
        ok, X, off = self._X_new(newdata)
        n = self.mf.n if newdata is None else len(newdata)
        eta = np.full(n, np.nan)
        se = np.full(n, np.nan)
        eta[ok] = X @ self.beta + off
        V = self.vcov.to_numpy()
        se[ok] = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
        return eta, se

    def predict_response(self, terms: str | list[str], margin: str = "mean_reference",
                         ci_level: float = 0.95) -> PredictedResponse:
        """Adjusted predictions at the values of focal terms: see :func:`pymer.predict_response`."""
        from ..predictions.response import predict_response
        return predict_response(self, terms, margin=margin, ci_level=ci_level)

    def _check_level(self, level):
        if not (isinstance(level, (float, int)) and 0 < level < 1):
            raise ValueError(f"level must be a number between 0 and 1, not {level!r}")

    def __repr__(self):
        return str(self.summary())

    def _repr_html_(self):
        import html
        return f"<pre>{html.escape(str(self.summary()))}</pre>"


def check_response(mf: Any, what: str) -> np.ndarray:
    y = np.asarray(mf.y)
    if y.ndim != 1:
        raise PymerDataError(f"response '{mf.response_name}' must be a single numeric column for "
                             f"{what}() (cbind() responses are for binomial glm)")
    if what == "lm" and mf.response_levels is not None:
        raise PymerDataError(f"response '{mf.response_name}' is a factor (levels "
                             f"{list(mf.response_levels)[:4]}); lm() needs a numeric response")
    return y
