"""New data for predictions: the data columns a model uses, and model matrices for the
rows of new data that have them all (rows with a missing value predict NaN)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import MissingColumnError
from ..formula import _as_frame
from ..formula.evaluate import _CONSTANTS
from ..formula.syntax import _BinOp, _Call, _Name, _Paren, _Unary


def _names(node, out):
    if isinstance(node, _Name):
        out.append(node.name)
    elif isinstance(node, _Call):
        for _, a in node.args:
            _names(a, out)
    elif isinstance(node, _BinOp):
        _names(node.lhs, out)
        _names(node.rhs, out)
    elif isinstance(node, (_Unary, _Paren)):
        _names(node.x, out)


def model_variables(mf, include_random=True) -> list:
    """Names of the data columns the right side of the formula reads (formula order, once each)."""
    spec = mf._spec
    out: list = []
    for vs in spec.fixed.vars:
        _names(vs.node, out)
    for o in spec.offsets:
        _names(o, out)
    if spec.offset_column is not None:
        out.append(spec.offset_column)
    if include_random:
        for rs in spec.random:
            for vs in rs.design.vars:
                _names(vs.node, out)
            out.extend(rs.atoms)
    return list(dict.fromkeys(out))


def new_model_matrix(mf, newdata, include_random=True, allow_new_levels=False):
    """(positions of the complete rows, :class:`pymer.formula.NewData` of those rows).

    A column the model needs that `newdata` lacks is an error naming it; rows with a
    missing value in a needed column are left out (their predictions are NaN).
    """
    data = _as_frame(newdata)
    cols = [str(c) for c in data.columns]
    used = [v for v in model_variables(mf, include_random) if v in cols or v not in _CONSTANTS]
    for v in used:
        if v not in cols:
            raise MissingColumnError(v, data.columns, what="variable (needed for prediction)")
    na = np.zeros(len(data), dtype=bool)
    for v in used:
        na |= pd.isna(data[v]).to_numpy()
    ok = np.flatnonzero(~na)
    sub = data if ok.size == len(data) else data.iloc[ok]
    return ok, mf.new_data(sub, include_random=include_random, allow_new_levels=allow_new_levels)

