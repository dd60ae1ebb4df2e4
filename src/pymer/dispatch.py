"""``pymer.lmer``: a Dask DataFrame is fitted from cross-products reduced over its partitions
(:mod:`pymer.dask`, imported only then), anything else in memory (:func:`pymer.lmm.lmer`).
The dispatch sits above the models, so ``lmm`` never imports ``dask``."""
from __future__ import annotations
from typing import TYPE_CHECKING, Any, Literal, overload
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from .lmm import DevFun
    from .results.lmm import LMMResult
import functools

from .lmm import lmer as _lmer_in_memory

__all__ = ["lmer"]


@overload
def lmer(formula: str, data: Any, REML: bool = ..., *, weights: str | ArrayLike | None = ...,
         offset: str | ArrayLike | None = ..., subset: str | ArrayLike | None = ...,
         na_action: str | None = ..., optimizer: str | None = ...,
         start: ArrayLike | dict | None = ..., control: dict | None = ...,
         contrasts: dict | None = ..., dev_fun_only: Literal[False] = ...) -> LMMResult: ...
@overload
def lmer(formula: str, data: Any, REML: bool = ..., *, weights: str | ArrayLike | None = ...,
         offset: str | ArrayLike | None = ..., subset: str | ArrayLike | None = ...,
         na_action: str | None = ..., optimizer: str | None = ...,
         start: ArrayLike | dict | None = ..., control: dict | None = ...,
         contrasts: dict | None = ..., dev_fun_only: Literal[True]) -> DevFun: ...
@overload
def lmer(formula: str, data: Any, REML: bool = ..., *, weights: str | ArrayLike | None = ...,
         offset: str | ArrayLike | None = ..., subset: str | ArrayLike | None = ...,
         na_action: str | None = ..., optimizer: str | None = ...,
         start: ArrayLike | dict | None = ..., control: dict | None = ...,
         contrasts: dict | None = ..., dev_fun_only: bool = ...) -> LMMResult | DevFun: ...
@functools.wraps(_lmer_in_memory)
def lmer(formula: str, data: Any, *args: Any, **kwargs: Any) -> LMMResult | DevFun:
    if type(data).__module__.startswith("dask."):
        from .dask import lmer as lmer_dask
        return lmer_dask(formula, data, *args, **kwargs)
    return _lmer_in_memory(formula, data, *args, **kwargs)
