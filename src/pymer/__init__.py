"""pymer: lme4's mixed-effects models in Python, from a compiled CHOLMOD core.

>>> import pymer
>>> m = pymer.lmer("Reaction ~ Days + (Days | Subject)", pymer.datasets.load("sleepstudy"))
>>> print(m.summary())

``import pymer`` is quick: the public names below are imported on first use (PEP 562),
so SciPy's statistics, matplotlib and the fitting stack load when a model is fitted
or a plot drawn, and ``pymer --version`` starts at once.
"""
import importlib
import sys
import types
from typing import TYPE_CHECKING

from .errors import (ConvergenceWarning, FormulaError, MissingColumnError, PerfectFitWarning,
                     PredictorScaleWarning, PymerDataError, RankDeficiencyWarning, ResponseWarning,
                     SingularFitWarning)

from ._version import __version__

if TYPE_CHECKING:       # what the lazy table below loads, for type checkers (never imported here)
    from . import datasets, families, plots, tidy
    from .checking import simulate_residuals
    from .contrasts import emmeans, glht
    from .dispatch import lmer
    from .fixed import GLMResult, LMList, LMResult, glm, lm, lmlist
    from .glmm import GeneralizedLinearMixedModel, glmer, glmer_nb
    from .inference import RefitWarning, anova, bootstrap, confint, contest, drop1
    from .lmm import LinearMixedModel
    from .many import ManyFits, lmer_many
    from .predictions import augment, predict_response, predict_se
    from .profile import profile
    from .results import GLMMResult, LMMResult
    from .tmb import glmmtmb

# public name -> (module, attribute); attribute None: the module itself
_LAZY = {
    "datasets": ("datasets", None),
    "families": ("families", None),
    "plots": ("plots", None),
    "tidy": ("tidy", None),
    "GeneralizedLinearMixedModel": ("glmm", "GeneralizedLinearMixedModel"),
    "glmer": ("dispatch", "glmer"),              # Dask frames to pymer.dask, the rest to pymer.glmm
    "glmer_nb": ("dispatch", "glmer_nb"),
    "LinearMixedModel": ("lmm", "LinearMixedModel"),
    "lmer": ("dispatch", "lmer"),                # Dask frames to pymer.dask, the rest to pymer.lmm
    "lmer_many": ("many", "lmer_many"),
    "ManyFits": ("many", "ManyFits"),
    "glmmtmb": ("tmb", "glmmtmb"),
    "RefitWarning": ("inference", "RefitWarning"),
    "anova": ("inference", "anova"),
    "bootstrap": ("inference", "bootstrap"),
    "confint": ("inference", "confint"),
    "contest": ("inference", "contest"),
    "drop1": ("inference", "drop1"),
    "GLMResult": ("fixed", "GLMResult"),
    "LMList": ("fixed", "LMList"),
    "LMResult": ("fixed", "LMResult"),
    "glm": ("fixed", "glm"),
    "lm": ("fixed", "lm"),
    "lmlist": ("fixed", "lmlist"),
    "augment": ("predictions", "augment"),
    "predict_response": ("predictions", "predict_response"),
    "predict_se": ("predictions", "predict_se"),
    "simulate_residuals": ("checking", "simulate_residuals"),
    "emmeans": ("contrasts", "emmeans"),
    "glht": ("contrasts", "glht"),
    "profile": ("profile", "profile"),      # the function; the module is sys.modules["pymer.profile"]
    "GLMMResult": ("results", "GLMMResult"),
    "LMMResult": ("results", "LMMResult"),
}


def __getattr__(name: str) -> object:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pymer' has no attribute {name!r}") from None
    mod = importlib.import_module(f".{module}", __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """pymer's module type: importing the submodule ``pymer.profile`` (``from pymer.profile
    import Profile``) must not replace the function ``pymer.profile`` with that module, as
    Python's import system would when it binds a new submodule on its package."""

    def __setattr__(self, name, value):
        if name == "profile" and isinstance(value, types.ModuleType):
            value = value.profile
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "lmer",
    "lmer_many",
    "ManyFits",
    "glmmtmb",
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
