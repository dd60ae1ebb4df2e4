"""Fixed-effects-only fits beside the mixed ones: R's lm and glm, lme4's lmList."""
from .glm import GLMResult, glm
from .lm import LMResult, lm
from .lmlist import LMList, lmlist

__all__ = ["lm", "glm", "lmlist", "LMResult", "GLMResult", "LMList"]
