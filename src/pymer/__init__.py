"""pymer: lme4's mixed-effects models in Python, from a compiled CHOLMOD core.

>>> import pymer
>>> m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
>>> print(m.summary())
"""
import functools as _functools

from . import datasets
from .errors import (ConvergenceWarning, FormulaError, MissingColumnError, PerfectFitWarning,
                     PredictorScaleWarning, PymerDataError, RankDeficiencyWarning, ResponseWarning,
                     SingularFitWarning)
from . import families
from .glmm import GeneralizedLinearMixedModel, glmer, glmer_nb
from .inference import RefitWarning, anova, bootstrap, confint, contest, drop1
from .lmm import LinearMixedModel
from .lmm import lmer as _lmer_in_memory
from .fixed import GLMResult, LMList, LMResult, glm, lm, lmlist
from .predictions import augment, predict_response, predict_se
from .checking import simulate_residuals
from .tmb import glmmtmb
from .contrasts import emmeans, glht
from .many import ManyFits, lmer_many
from .profile import profile  # the function (the module stays importable: pymer.profile.Profile via sys.modules)
from .results import GLMMResult, LMMResult

from ._version import __version__


@_functools.wraps(_lmer_in_memory)
def lmer(formula, data, *args, **kwargs):
    # a Dask DataFrame is fitted from cross-products reduced over its partitions
    # (pymer.dask, imported only then); anything else in memory (pymer.lmm.lmer)
    if type(data).__module__.startswith("dask."):
        from .dask import lmer as lmer_dask
        return lmer_dask(formula, data, *args, **kwargs)
    return _lmer_in_memory(formula, data, *args, **kwargs)


def __getattr__(name):
    # pymer.plots (matplotlib) and pymer.tidy are imported on first use, so `import pymer` stays quick
    if name in ("plots", "tidy"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pymer' has no attribute {name!r}")


__all__ = [
    "lmer",
    "lmer_many",
    "ManyFits",
    "glmer",
    "glmer_nb",
    "GeneralizedLinearMixedModel",
    "GLMMResult",
    "families",
    "LinearMixedModel",
    "LMMResult",
    "datasets",
    "FormulaError",
    "PymerDataError",
    "MissingColumnError",
    "ConvergenceWarning",
    "SingularFitWarning",
    "RankDeficiencyWarning",
    "PredictorScaleWarning",
    "PerfectFitWarning",
    "ResponseWarning",
    "anova",
    "drop1",
    "confint",
    "profile",
    "bootstrap",
    "contest",
    "RefitWarning",
    "lm",
    "glm",
    "lmlist",
    "LMResult",
    "GLMResult",
    "LMList",
    "predict_response",
    "predict_se",
    "augment",
    "simulate_residuals",
    "emmeans",
    "glht",
    "glmmtmb",
]
