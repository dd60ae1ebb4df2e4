"""The call that made a fit, kept as R keeps ``m@call``: update() edits it and calls again."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from .formula import _as_frame, update_formula

__all__ = ["ModelCall", "data_name", "fitted_rows"]


def data_name(data) -> str | None:
    """The data's name (``DataFrame.attrs["name"]``, as pymer's data sets carry it)."""
    attrs = getattr(data, "attrs", None)
    return attrs.get("name") if isinstance(attrs, dict) else None


@dataclass(frozen=True)
class ModelCall:
    """A frozen record of a model-fitting call: the function, formula, data and arguments.

    Nothing is attached to a model after it is built: a model is made from its
    call, and :meth:`update` returns the call with some arguments changed, which
    fits a new model when called (lme4's ``update()`` re-evaluates the call).

    Parameters
    ----------
    fn : callable
        The fitting function (``pymer.lmer``, ``pymer.glmer``, ...).
    formula : str
        The model formula.
    data : object
        The data as given (never copied or modified).
    args : mapping
        The other arguments, by name.
    """

    fn: Callable[..., Any]
    formula: str
    data: Any
    args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))

    def __reduce__(self):
        return (ModelCall, (self.fn, self.formula, self.data, dict(self.args)))

    @property
    def data_name(self) -> str | None:
        """The data's name (``DataFrame.attrs["name"]``, as pymer's data sets carry it)."""
        return data_name(self.data)

    def update(self, formula: str | None = None, data: Any = None, fn: Callable | None = None,
               **args) -> "ModelCall":
        """The call with a changed formula (R's ``. ~ . - x`` forms), data, function or arguments."""
        return ModelCall(fn or self.fn,
                         self.formula if formula is None else update_formula(self.formula, formula),
                         self.data if data is None else data,
                         {**self.args, **args})

    def __repr__(self) -> str:
        # as R prints a call: the function, then the arguments given (None left out)
        data = self.data_name or f"<{type(self.data).__name__}>"
        args = "".join(f", {k} = {v!r}" for k, v in self.args.items() if v is not None)
        return f"{getattr(self.fn, '__name__', 'fit')}(formula = {self.formula!r}, data = {data}{args})"

    def __call__(self):
        """Fit: call the function with the recorded arguments."""
        if self.data is None:
            raise ValueError("this fit does not keep its data: pass data= to update()")
        return self.fn(self.formula, self.data, **self.args)


def fitted_rows(model, purpose: str = "this"):
    """The rows of the caller's data a fit used (all columns, as a pandas DataFrame): the
    call's data at the model frame's rows. A clear error names `purpose` when the fit
    keeps no data."""
    call = getattr(model, "call", None)
    if call is None or call.data is None:
        raise ValueError(f"the model does not keep its data; {purpose} needs them")
    return _as_frame(call.data).iloc[np.asarray(model.mf.rows)]
