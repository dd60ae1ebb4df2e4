"""pymer: lme4's mixed-effects models in Python, from a compiled CHOLMOD core.

>>> import pymer
>>> m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
>>> print(m.summary())
"""
from . import datasets
from .errors import FormulaError, MissingColumnError, PymerDataError
from . import families
from .glmm import GeneralizedLinearMixedModel, GLMMResult, glmer, glmer_nb
from .inference import RefitWarning, anova, bootstrap, confint, contest, drop1
from .lmm import LinearMixedModel, lmer
from .optimize import ConvergenceWarning, SingularFitWarning
from .profile import profile  # the function (the module stays importable: pymer.profile.Profile via sys.modules)
from .results import LMMResult
from .tmb import glmmtmb
from .validate import (PerfectFitWarning, PredictorScaleWarning, RankDeficiencyWarning,
                       ResponseWarning)

__version__ = "0.1.0"

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
    "glmmtmb",
]
