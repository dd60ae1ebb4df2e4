"""pymer: lme4's mixed-effects models in Python, from a compiled CHOLMOD core.

>>> import pymer
>>> m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
>>> print(m.summary())
"""
from . import datasets
from .errors import (ConvergenceWarning, FormulaError, MissingColumnError, PerfectFitWarning,
                     PredictorScaleWarning, PymerDataError, RankDeficiencyWarning, ResponseWarning,
                     SingularFitWarning)
from . import families
from .glmm import GeneralizedLinearMixedModel, glmer, glmer_nb
from .inference import RefitWarning, anova, bootstrap, confint, contest, drop1
from .lmm import LinearMixedModel, lmer
from .fixed import GLMResult, LMList, LMResult, glm, lm, lmlist
from .predictions import augment, predict_response, predict_se
from .checking import simulate_residuals
from .contrasts import emmeans, glht
from .profile import profile  # the function (the module stays importable: pymer.profile.Profile via sys.modules)
from .results import GLMMResult, LMMResult

from ._version import __version__


def __getattr__(name):
    # pymer.plots (matplotlib) is imported on first use, so `import pymer` stays quick
    if name == "plots":
        import importlib
        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'pymer' has no attribute {name!r}")

__all__ = [
    "lmer",
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
]
