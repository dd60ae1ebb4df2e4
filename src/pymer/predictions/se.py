"""Predictions for new data with standard errors and confidence or prediction intervals."""
from __future__ import annotations

from typing import Any, Literal
import numpy as np
import pandas as pd

from .grid import ModelView
from .newdata import new_model_matrix
from .response import _quantile, _residual_variance


def predict_se(m: Any, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
               interval: Literal["confidence", "prediction"] | None = "confidence", level: float = 0.95,
               type: Literal["link", "response"] = "link") -> pd.DataFrame:
    """Predictions with standard errors and intervals (``m.predict(newdata, se_fit=True)``).

    The standard error is that of the fixed-effects part, X beta, from ``vcov``
    (conditional on the random effects, as ggeffects' and merTools' intervals are);
    rows of `newdata` with a missing value in a variable the model uses give NaN.

    Parameters
    ----------
    m : fitted mixed model (lmer, glmer, glmer_nb)
    newdata : DataFrame, optional
        Default: the fitted data.
    re_form : None or "~0"
        Include the random effects (default) or predict at the population level.
    allow_new_levels : bool
        Predict unseen grouping levels from the fixed effects alone.
    interval : {"confidence", "prediction", None}
        ``"prediction"`` adds the residual variance sigma^2 (linear mixed models only).
    level : float
    type : {"link", "response"}
        Scale of ``fit``, ``lwr`` and ``upr``; ``se_fit`` is on the link scale.

    Returns
    -------
    DataFrame with ``fit``, ``se_fit`` and, unless ``interval=None``, ``lwr``, ``upr``.
    """
    if interval not in (None, "confidence", "prediction"):
        raise ValueError(f"interval must be None, 'confidence' or 'prediction', not {interval!r}")
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise ValueError(f"level must be a number between 0 and 1, not {level!r}")
    view = ModelView(m)
    if interval == "prediction" and not view.is_linear:
        raise ValueError("interval='prediction' is for linear mixed models; for a GLMM use "
                         "pymer.predict_response(m, terms, type='random')")
    if newdata is None:
        newdata = view.data
    use_re = re_form is None
    n = len(newdata)
    ok, nd = new_model_matrix(view.mf, newdata, include_random=use_re,
                              allow_new_levels=allow_new_levels)
    keep = [list(view.mf.fixef_names).index(nm) for nm in m.fixef.index]
    X = np.asarray(nd.X, dtype=np.float64)[:, keep]
    sub = newdata if ok.size == n else newdata.iloc[ok]
    eta = np.full(n, np.nan)
    se = np.full(n, np.nan)
    eta[ok] = m.predict(sub, re_form=re_form, allow_new_levels=allow_new_levels)
    se[ok] = np.sqrt(np.einsum("ij,jk,ik->i", X, np.asarray(m.vcov, dtype=np.float64), X))
    out = pd.DataFrame({"fit": eta, "se_fit": se}, index=getattr(newdata, "index", None))
    if interval is not None:
        q = _quantile(view, level)
        s = np.sqrt(se ** 2 + _residual_variance(view)) if interval == "prediction" else se
        out["lwr"], out["upr"] = eta - q * s, eta + q * s
    if type == "response":
        for c in ("fit", "lwr", "upr"):
            if c in out:
                out[c] = view.linkinv(out[c].to_numpy())
        if "lwr" in out:
            lo, hi = out["lwr"].to_numpy(), out["upr"].to_numpy()
            out["lwr"], out["upr"] = np.minimum(lo, hi), np.maximum(lo, hi)
    return out
