"""``pymer.lmer`` and ``pymer.glmer``: a Dask DataFrame is fitted from sums reduced over its
partitions (:mod:`pymer.dask`, imported only then), anything else in memory
(:func:`pymer.lmm.lmer`, :func:`pymer.glmm.glmer`). The dispatch sits above the models,
so ``lmm`` and ``glmm`` never import ``dask``."""
from __future__ import annotations
from typing import TYPE_CHECKING, Any, Literal, overload
from numpy.typing import ArrayLike
if TYPE_CHECKING:
    from .lmm import DevFun
    from .results.glmm import GLMMResult
    from .results.lmm import LMMResult
import functools

from .glmm import glmer as _glmer_in_memory
from .glmm import glmer_nb as _glmer_nb_in_memory
from .lmm import lmer as _lmer_in_memory

__all__ = ["lmer", "glmer", "glmer_nb"]


def _is_dask(data: Any) -> bool:
    return type(data).__module__.startswith("dask.")


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
    if _is_dask(data):
        from .dask import lmer as lmer_dask
        return lmer_dask(formula, data, *args, **kwargs)
    return _lmer_in_memory(formula, data, *args, **kwargs)


@functools.wraps(_glmer_in_memory)
def glmer(formula: str, data: Any, *args: Any, **kwargs: Any) -> GLMMResult | LMMResult | DevFun:
    if _is_dask(data):
        from .dask import glmer as glmer_dask
        return glmer_dask(formula, data, *args, **kwargs)
    return _glmer_in_memory(formula, data, *args, **kwargs)


@functools.wraps(_glmer_nb_in_memory)
def glmer_nb(formula: str, data: Any, *args: Any, **kwargs: Any) -> GLMMResult:
    if _is_dask(data):
        raise NotImplementedError("glmer_nb() on a Dask DataFrame is not available (its theta "
                                  "alternation is not on the partitioned fit yet): fit in memory, or "
                                  "pymer.glmer(..., family=pymer.families.NegativeBinomial(theta)) "
                                  "for a known theta")
    return _glmer_nb_in_memory(formula, data, *args, **kwargs)
