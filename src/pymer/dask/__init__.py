"""Mixed models of Dask DataFrames (``pymer[dask]``): ``pymer.lmer(formula, data=ddf)``
reduces the cross-products over the partitions and fits on the sums.

Importing this package imports Dask; the rest of pymer does not.
"""
from .model import DaskLinearMixedModel, DaskLMMResult, is_dask_dataframe, lmer

__all__ = ["lmer", "DaskLinearMixedModel", "DaskLMMResult", "is_dask_dataframe"]
