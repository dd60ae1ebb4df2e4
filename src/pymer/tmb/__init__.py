"""glmmTMB's models in pymer: zero inflation, dispersion models and glmmTMB's families,
fitted by the Laplace approximation on pymer's compiled core."""
from .families import FAMILY_NAMES, TMBFamily, family
from .model import TMBModel, glmmtmb
from .joint import JointTMBModel
from .joint_result import JointTMBResult
from .zero_dispersion import ZeroDispersionModel
from .result import TMBResult

__all__ = ["glmmtmb", "family", "TMBFamily", "TMBModel", "TMBResult", "JointTMBModel", "JointTMBResult", "ZeroDispersionModel",
           "FAMILY_NAMES"]
