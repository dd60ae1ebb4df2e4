"""Fitted models: the shared base (accessors, inference delegators, print skeleton),
linear and generalized linear mixed models."""
from ..report.summary import Summary  # noqa: F401  (where it was before the report layer)
from .base import MixedModelResult
from .glmm import GLMMResult
from .lmm import LMMResult

__all__ = ["MixedModelResult", "LMMResult", "GLMMResult"]
