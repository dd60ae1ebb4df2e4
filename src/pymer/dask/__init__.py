"""Mixed models of Dask DataFrames (``pymer[dask]``): ``pymer.lmer(formula, data=ddf)`` and
``pymer.glmer(formula, data=ddf, family=...)`` reduce sums over the partitions and fit on them.

Importing this package imports Dask; the rest of pymer does not.
"""
from .glmm import DaskGeneralizedLinearMixedModel, DaskGLMMResult, glmer
from .model import DaskLinearMixedModel, DaskLMMResult, is_dask_dataframe, lmer

__all__ = ["lmer", "glmer", "DaskLinearMixedModel", "DaskLMMResult", "DaskGeneralizedLinearMixedModel",
           "DaskGLMMResult", "is_dask_dataframe"]
