"""Reading a formula against data: :func:`parse_formula` and :class:`ModelFrame`.

Variables are evaluated once on the whole data (as R's ``model.frame`` does),
then rows with missing values are dropped and unused factor levels dropped (as
lme4 does); the response, the fixed-effects model matrix and one
:class:`RandomTerm` per random-effects term follow. A :class:`ModelFrame`
encodes new data as the fitted data were encoded (:meth:`ModelFrame.new_data`).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import FormulaError, MissingColumnError, PymerDataError, warn
from .bars import RandomTerm, _group_factor
from .design import _Design, _as_model_var, _design_from_terms
from .evaluate import _as_factor, _drop_unused, _Evaluator, _num, _recode, _Value
from .structure import formula_structure
from .syntax import _Call, _deparse, _formula_entry, _is_bar, _Node, _parse, _unparen


class NewRandomTerm(NamedTuple):
    """A random term's left-side matrix and grouping codes for new rows (-1: new level)."""

    X: np.ndarray
    codes: np.ndarray


@dataclass
class NewData:
    """Model matrices for new rows, encoded as the fitted data were.

    ``random`` is aligned with :attr:`ModelFrame.random` (empty when random terms
    were not requested); each entry unpacks as ``(X_lhs, codes)``.
    """

    X: np.ndarray
    offset: np.ndarray | None
    random: list[NewRandomTerm]
    new_levels: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _RandomSpec:
    lhs_node: _Node
    group_node: _Node
    text: str
    design: _Design
    atoms: list[str]
    atom_levels: list[list[str]]
    levels: list[str]


@dataclass
class _Spec:
    fixed: _Design
    random: list[_RandomSpec]
    offsets: list[_Node]
    offset_column: str | None
    state: dict


@dataclass
class ModelFrame:
    """A formula read against data: the response, fixed-effects model matrix and
    random-effects terms, for the complete rows of the data.

    Attributes
    ----------
    formula : str
        The formula as given.
    response_name : str
        The response as R writes it ("Reaction", "log(Reaction)", "cbind(incidence, size - incidence)").
    y : ndarray
        (n,) float64, or (n, 2) (successes, failures) for ``cbind(...)``. A factor
        response gives 1.0 where the level is not the first level.
    response_levels : list of str or None
        The levels of a factor (or string) response.
    X : ndarray (n, p)
        Fixed-effects model matrix, R's column order.
    fixef_names : list of str
        Its column names as R names them ("(Intercept)", "Days", "stock2L", "recipeB:temperature.L").
    term_labels : list of str
        R's term labels of the fixed part.
    assign : ndarray (p,)
        Term of each column (0: intercept, i: term_labels[i-1]), as R's attr(X, "assign").
    random : list of RandomTerm
        In formula order, after lme4's expansion of ``||`` and ``/``.
    offset, weights : ndarray (n,) or None
    rows : ndarray
        Positions (0-based) of the rows of the data that were used.
    nobs_dropped : int
        Rows dropped for missing values.
    na_action : str
        ``"na.omit"``, ``"na.exclude"`` or ``"na.fail"`` (R's na.action).
    frame_rows : ndarray or None
        Positions of the rows ``subset=`` kept, before rows with missing values
        were dropped: ``na.exclude`` pads per-observation results to these rows.
    data_nrow : int
        The number of rows of the data.
    """

    formula: str
    response_name: str
    y: np.ndarray
    response_levels: list[str] | None
    X: np.ndarray
    fixef_names: list[str]
    term_labels: list[str]
    assign: np.ndarray
    random: list[RandomTerm]
    offset: np.ndarray | None
    weights: np.ndarray | None
    rows: np.ndarray
    nobs_dropped: int
    _spec: _Spec = field(repr=False, compare=False)
    na_action: str = "na.omit"
    frame_rows: np.ndarray | None = None
    data_nrow: int = 0

    def napredict(self, values) -> np.ndarray:
        """Per-observation values padded with NaN at the rows dropped for missing values
        when ``na_action="na.exclude"`` (R's napredict/naresid); unchanged otherwise."""
        values = np.asarray(values)
        if self.na_action != "na.exclude" or self.frame_rows is None or self.nobs_dropped == 0:
            return values
        out = np.full((self.frame_rows.shape[0],) + values.shape[1:], np.nan)
        out[np.searchsorted(self.frame_rows, self.rows)] = values
        return out

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @_formula_entry
    def new_data(self, newdata, *, include_random: bool = True,
                 allow_new_levels: bool = False, offset=None) -> NewData:
        """Model matrices for new rows with the fitted encoding.

        Same columns, factor levels, ``scale()`` centres and scales as the fitted
        data. For each random term, grouping codes are -1 for levels not seen in
        the fitted data; that is an error unless ``allow_new_levels=True``.
        Rows with missing values in the variables needed raise an error.

        Parameters
        ----------
        newdata : DataFrame or dict of arrays
        include_random : bool
            Also build the random terms (needs their grouping columns).
        allow_new_levels : bool
            Allow grouping levels not seen when fitting (codes -1).
        offset : array-like, optional
            An offset to add for the new rows (when the model's ``offset=`` was
            given as an array rather than a column name).
        """
        spec = self._spec
        data = _as_frame(newdata)
        n = len(data)
        ev = _Evaluator(data, spec.state, fitting=False)
        needed: list[tuple[str, _Value]] = []

        def get(node):
            v = ev.eval(node)
            needed.append((_deparse(node), v))
            return v

        fvals = [get(vs.node) for vs in spec.fixed.vars]
        ovals = [get(o) for o in spec.offsets]
        off_col = None
        if spec.offset_column is not None:
            off_col = ev.column(spec.offset_column)
            needed.append((spec.offset_column, off_col))
        rvals = []
        if include_random:
            for rs in spec.random:
                lv = [get(vs.node) for vs in rs.design.vars]
                gv = [ev.column(a) for a in rs.atoms]
                needed.extend(zip(rs.atoms, gv))
                rvals.append((lv, gv))
        bad = [(k, int(v.na.sum())) for k, v in needed if v.na.any()]
        if bad:
            seen, desc = set(), []
            for k, c in bad:
                if k not in seen:
                    seen.add(k)
                    desc.append(f"'{k}' ({c} rows)")
            raise PymerDataError("new data have missing values in " + ", ".join(desc)
                                 + "; drop or fill those rows first")
        X = spec.fixed.build(_encode_new(spec.fixed, fvals), n)[0]
        off = None
        parts = [o.data for o in ovals]
        if off_col is not None:
            parts.append(off_col.data)
        if offset is not None:
            parts.append(_vector(offset, n, "offset"))
        if parts:
            off = np.sum(parts, axis=0).astype(np.float64)
            _check_finite(off, "offset")
        random, new_levels = [], {}
        for rs, (lv, gv) in zip(spec.random, rvals):
            Xl = rs.design.build(_encode_new(rs.design, lv), n)[0]
            enc = []
            for val, levels, atom in zip(gv, rs.atom_levels, rs.atoms):
                codes, _ = _recode(_as_factor(val, atom), levels)
                enc.append(_Value("fac", codes, levels))
            codes, newl = _recode(_group_factor(enc), rs.levels)
            unseen = np.zeros(n, dtype=bool)
            for e in enc:
                unseen |= e.data < 0
            if unseen.any():
                newl = newl + [x for x in _new_labels(gv, rs.atoms, unseen) if x not in newl]
            group = _deparse(rs.group_node, backtick=False)
            if newl:
                new_levels[group] = newl
                if not allow_new_levels:
                    shown = ", ".join(f"'{x}'" for x in newl[:5])
                    more = f", ... ({len(newl)} in all)" if len(newl) > 5 else ""
                    raise PymerDataError(
                        f"new level(s) {shown}{more} of grouping factor '{group}' in random-effects "
                        f"term '({_deparse(rs.lhs_node)} | {group})' were not in the fitted data; "
                        "use allow_new_levels=True to predict them from the fixed effects alone")
            random.append(NewRandomTerm(Xl, codes))
        return NewData(X, off, random, new_levels)


def _new_labels(values: list[_Value], atoms: list[str], rows: np.ndarray) -> list[str]:
    """Labels of the grouping combinations in `rows` (for messages)."""
    facs = [_as_factor(v, a) for v, a in zip(values, atoms)]
    sub = [f.take(np.flatnonzero(rows)) for f in facs]
    return list(_group_factor([_drop_unused(s) for s in sub]).levels)


def _encode_new(design: _Design, values: list[_Value]) -> list[_Value]:
    """New data's variables in the design's encoding (training levels); new levels are errors."""
    out = []
    for vs, v in zip(design.vars, values):
        if vs.kind == "num":
            if v.kind == "fac":
                raise PymerDataError(f"variable '{vs.key}' was numeric in the fitted data but is "
                                     "a factor (strings) in the new data")
            if v.kind == "lgl":
                v = _num(v.data)
            width = None if vs.cols is None else len(vs.cols)
            if (v.data.shape[1] if v.data.ndim == 2 else None) != width:
                raise PymerDataError(f"variable '{vs.key}' had {width or 1} column(s) in the fitted "
                                     f"data but has {v.data.shape[1] if v.data.ndim == 2 else 1} "
                                     "in the new data")
            _check_finite(v.data, vs.key)
            out.append(v)
            continue
        f = _as_factor(v, vs.key)
        assert vs.levels is not None    # a factor of the fitted data has its levels
        codes, new = _recode(f, vs.levels)
        if new:
            shown = ", ".join(f"'{x}'" for x in new[:5])
            raise PymerDataError(f"factor '{vs.key}' has new level(s) {shown} not in the fitted data "
                                 f"(levels: {vs.levels[:10]})")
        out.append(_Value("fac", codes, vs.levels, vs.ordered))
    return out


# =============================================================================
# parse_formula
# =============================================================================


def _to_pandas(data):
    """A polars / pyarrow / other dataframe (or a dict holding their series) as pandas, via narwhals.

    Column by column, so no pyarrow is needed: an Enum keeps its level order (as a
    pandas Categorical does); other categoricals and strings get R's sorted levels.
    Anything narwhals does not know is returned unchanged.
    """
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data
    try:
        import narwhals as nw
    except ImportError:
        return data

    def column(s):
        values = s.to_numpy()
        if s.dtype == nw.Enum:
            return pd.Categorical(values, categories=list(s.dtype.categories))
        if s.dtype == nw.Categorical:
            return pd.Categorical(values)
        return values

    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            s = nw.from_native(v, series_only=True, pass_through=True)
            out[k] = column(s) if isinstance(s, nw.Series) else v
        return out
    df = nw.from_native(data, pass_through=True)
    if isinstance(df, nw.LazyFrame):
        df = df.collect()
    if not isinstance(df, nw.DataFrame):
        return data
    return pd.DataFrame({c: column(df[c]) for c in df.columns})


def _as_frame(data) -> pd.DataFrame:
    if data is None or isinstance(data, (str, bytes, numbers.Number)):
        raise PymerDataError(f"data must be a pandas DataFrame or a dict of arrays, "
                             f"not {type(data).__name__}")
    data = _to_pandas(data)
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        data, matrices = _split_matrices(data)
        try:
            frame = pd.DataFrame(dict(data))
            if not data and matrices:
                frame = pd.DataFrame(index=pd.RangeIndex(len(next(iter(matrices.values()))[0])))
            for k, (rows, colnames) in matrices.items():
                frame[k] = pd.Series(rows, index=frame.index, dtype=object)
                if colnames is not None:
                    frame.attrs.setdefault("matrix_colnames", {})[k] = colnames
            return frame
        except ValueError as e:
            raise PymerDataError(f"cannot make a data frame from the dict given: {e}") from None
    try:
        return pd.DataFrame(data)
    except Exception as e:  # noqa: BLE001
        raise PymerDataError(f"data must be a pandas DataFrame or a dict of arrays, "
                             f"not {type(data).__name__}") from e


def _split_matrices(data: dict) -> tuple[dict, dict]:
    """2-D entries of a dict of columns (R's matrix-valued data columns), as rows."""
    plain, matrices = {}, {}
    for k, v in data.items():
        if isinstance(v, pd.DataFrame) or (isinstance(v, np.ndarray) and v.ndim == 2):
            colnames = [str(c) for c in v.columns] if isinstance(v, pd.DataFrame) else None
            M = np.asarray(v, dtype=np.float64) if not isinstance(v, pd.DataFrame) \
                else v.to_numpy(dtype=np.float64)
            rows = np.empty(M.shape[0], dtype=object)
            rows[:] = list(M)
            matrices[k] = (rows, colnames)
        else:
            plain[k] = v
    return plain, matrices


def _vector(arg, n: int, what: str) -> np.ndarray:
    try:
        if isinstance(arg, pd.Series):
            arr = arg.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = np.asarray(arg, dtype=np.float64)
    except (TypeError, ValueError):
        raise PymerDataError(f"{what} must be numeric (a column name or one number per row), "
                             f"not {type(arg).__name__} holding non-numbers") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1:
        raise PymerDataError(f"{what} must be one-dimensional (one value per row), "
                             f"not of shape {arr.shape}")
    if arr.shape[0] != n:
        raise PymerDataError(f"{what} has length {arr.shape[0]}; the data have {n} rows")
    return arr


def _check_contrasts(contrasts) -> dict | None:
    if contrasts is None:
        return None
    if not isinstance(contrasts, dict):
        raise FormulaError(f"contrasts must be a dict (factor name -> contrasts), not "
                           f"{type(contrasts).__name__}")
    for k in contrasts:
        if not isinstance(k, str):
            raise FormulaError(f"contrasts: the keys must be factor names, not {k!r}")
    return dict(contrasts)


def _check_finite(a: np.ndarray, name: str):
    if np.isinf(a).any():
        k = int(np.isinf(a).sum())
        raise PymerDataError(f"'{name}' has infinite values ({k} rows); remove or fix them")


@_formula_entry
def parse_formula(formula: str, data, *, weights=None, offset=None,
                  require_random: bool = True, contrasts: dict | None = None, subset=None,
                  na_action: str = "na.omit") -> ModelFrame:
    """Read an lme4 formula against data.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed terms + (lhs | group) + ..."`` in lme4's syntax.
    data : pandas.DataFrame or dict of arrays
        Never modified. A dict entry may be a 2-D array or a DataFrame: a matrix-valued
        variable, as an R data frame's matrix column (columns ``X1``, ``X2`` or named
        by the DataFrame's columns); so may a column whose cells are equal-length arrays.
        A datetime column is an error (convert it to numbers or strings first); a text
        column with more distinct values than half the rows gives a warning.
    weights, offset : None, a column name, or an array-like with one value per row
        Prior weights; an offset added to the formula's ``offset()`` terms.
    require_random : bool
        Raise a :class:`FormulaError` when the formula has no random-effects term.
    contrasts : dict, optional
        R's ``contrasts``: factor name -> ``"contr.sum"``, ``"contr.helmert"``,
        ``"contr.poly"``, ``"contr.treatment"``, ``"contr.treatment(base=2)"``,
        ``"contr.SAS"`` or a matrix (one row per level; a DataFrame's column labels
        name the columns), for the fixed-effects model matrix.
    subset : str or array_like of bool, optional
        The rows to use (R's ``subset=``): an R expression on the data's columns
        (``"Days >= 2 & Subject != '308'"``; a missing value counts as FALSE) or one
        boolean per row. Variables are evaluated on all rows first, as R's model.frame.
    na_action : {"na.omit", "na.exclude", "na.fail"}
        Rows with missing values in a variable the model uses are dropped
        (``"na.omit"``, ``"na.exclude"``: per-observation results are padded back with
        NaN) or are an error (``"na.fail"``).

    Returns
    -------
    ModelFrame
    """
    data = _as_frame(data)
    n = len(data)
    contrasts = _check_contrasts(contrasts)
    na_action = _check_na_action(na_action)
    st = formula_structure(formula, data.columns, require_random)
    lhs, fixed_terms = st.lhs, st.fixed_terms
    assert lhs is not None      # formula_structure reads two-sided formulas only

    # ---- evaluate every variable once, on all rows (as R's model.frame)
    state: dict = {}
    ev = _Evaluator(data, state, fitting=True)
    used: list[tuple[str, _Value]] = []

    def get(node, key=None):
        key = _deparse(node) if key is None else key
        v = ev.eval(node, key)
        used.append((key, v))
        return v

    lhs_u = _unparen(lhs)
    response_name = st.response_name
    if isinstance(lhs_u, _Call) and lhs_u.fn.name == "cbind":
        if len(lhs_u.args) != 2 or any(nm is not None for nm, _ in lhs_u.args):
            raise FormulaError(f"cbind() in the response takes two columns (successes, failures): "
                               f"'{response_name}'")
        yvals = [get(a) for _, a in lhs_u.args]
        for (_, a), v in zip(lhs_u.args, yvals):
            if v.kind == "fac":
                raise PymerDataError(f"'{_deparse(a)}' in the response '{response_name}' is not "
                                     "numeric")
    else:
        if _is_bar(lhs_u):
            raise FormulaError(f"the response '{response_name}' cannot be a random-effects term")
        yvals = [get(lhs, response_name)]

    fvals = [get(v, k) for v, k in zip(fixed_terms.vars, st.fixed_keys)]
    ovals = [get(o, k) for o, k in zip(fixed_terms.offsets, st.offset_keys)]
    rvals = []
    for rp in st.random:
        lv = [get(v, k) for v, k in zip(rp.terms.vars, rp.var_keys)]
        gv = [get(a, k) for a, k in zip(rp.atoms, rp.atom_keys)]
        rvals.append((lv, gv))
    extra = {}
    offset_column = None
    for what, arg in (("weights", weights), ("offset", offset)):
        if arg is None:
            continue
        if isinstance(arg, str):
            if not any(str(c) == arg for c in data.columns):
                raise MissingColumnError(arg, data.columns, what=f"{what} column")
            v = ev.column(arg)
            if v.kind == "fac":
                raise PymerDataError(f"{what} column '{arg}' is not numeric")
            if what == "offset":
                offset_column = arg
            extra[what] = v.data
            used.append((arg, v))
        else:
            arr = _vector(arg, n, what)
            extra[what] = arr
            used.append((what, _num(arr)))

    # ---- subset=, then rows with no missing value in any variable used (na.action)
    keep = _subset_mask(subset, ev, n)
    na = np.zeros(n, dtype=bool)
    for _, v in used:
        na |= v.na
    na &= keep

    def missing_cols():
        cols, seen = [], set()
        for k, v in used:
            if k not in seen and (v.na & keep).any():
                seen.add(k)
                cols.append(f"'{k}' ({int((v.na & keep).sum())} missing)")
        return ", ".join(cols)

    if na_action == "na.fail" and na.any():
        raise PymerDataError(f"missing values in object (na_action='na.fail'): {missing_cols()}")
    rows = np.flatnonzero(keep & ~na)
    if rows.size == 0:
        if n == 0:
            raise PymerDataError("the data have no rows")
        if not keep.any():
            raise PymerDataError("subset= selects no rows of the data")
        raise PymerDataError("no complete rows: every row has a missing value in " + missing_cols())
    all_rows = rows.size == n

    def sub(v: _Value) -> _Value:
        return _drop_unused(v if all_rows else v.take(rows))

    m = rows.size

    # ---- response
    response_levels = None
    if len(yvals) == 2:
        y = np.column_stack([sub(v).data for v in yvals]).astype(np.float64)
        _check_finite(y, response_name)
    else:
        yv = sub(yvals[0])
        if yv.kind == "fac":
            response_levels = list(yv.levels)
            y = (yv.data != 0).astype(np.float64)
        else:
            y = yv.data.astype(np.float64)
            _check_finite(y, response_name)

    # ---- fixed part
    fsub = [_as_model_var(sub(v), k) for v, k in zip(fvals, st.fixed_keys)]
    for v, k in zip(fsub, st.fixed_keys):
        if v.kind == "num":
            _check_finite(v.data, k)
    if contrasts:
        present = {_deparse(v, backtick=False) for v in fixed_terms.vars}
        for name in contrasts:
            if name not in present:
                warn(f"variable '{name}' is absent from the fixed effects; its "
                     "contrasts are ignored", UserWarning)
    fixed = _design_from_terms(fixed_terms, fsub, contrasts)
    X, names, assign = fixed.build(fsub, m)
    fixed.colnames, fixed.assign = names, assign

    # ---- offset and weights
    off_parts = [sub(v).data for v in ovals]
    if "offset" in extra:
        off_parts.append(extra["offset"][rows])
    off = None
    if off_parts:
        off = np.sum(off_parts, axis=0).astype(np.float64)
        _check_finite(off, "offset")
    w = None
    if "weights" in extra:
        w = np.asarray(extra["weights"][rows], dtype=np.float64)
        _check_finite(w, weights if isinstance(weights, str) else "weights")
        if (w < 0).any():
            i = int(np.flatnonzero(w < 0)[0])
            src = f"column '{weights}'" if isinstance(weights, str) else "weights="
            raise PymerDataError(
                f"negative weights are not allowed: {src} has {int((w < 0).sum())} "
                f"(first at row {data.index[rows[i]]}: {w[i]:g})")

    # ---- random terms
    random, rspecs = [], []
    for rp, (lv, gv) in zip(st.random, rvals):
        lsub = [_as_model_var(sub(v), k) for v, k in zip(lv, rp.var_keys)]
        for v, k in zip(lsub, rp.var_keys):
            if v.kind == "num":
                _check_finite(v.data, k)
        design = _design_from_terms(rp.terms, lsub)
        Xl, cn, _ = design.build(lsub, m)
        design.colnames = cn
        gsub = [sub(_as_factor(v, k)) for v, k in zip(gv, rp.atom_keys)]
        g = _group_factor(gsub)
        random.append(RandomTerm(rp.lhs_name, rp.group_name, Xl, cn,
                                 np.asarray(g.data, dtype=np.intp), list(g.levels)))
        rspecs.append(_RandomSpec(rp.lhs, rp.group, rp.text, design, [a.name for a in rp.atoms],
                                  [list(x.levels) for x in gsub], list(g.levels)))

    spec = _Spec(fixed, rspecs, list(fixed_terms.offsets), offset_column, state)
    return ModelFrame(
        formula=formula, response_name=response_name, y=y, response_levels=response_levels,
        X=X, fixef_names=names, term_labels=list(fixed.term_labels), assign=assign,
        random=random, offset=off, weights=w, rows=rows, nobs_dropped=int(keep.sum() - m), _spec=spec,
        na_action=na_action, frame_rows=np.flatnonzero(keep), data_nrow=n)


_NA_ACTIONS = ("na.omit", "na.exclude", "na.fail")


def _check_na_action(na_action) -> str:
    """R's na.action by name ("na.omit", "na.exclude", "na.fail"; "omit" etc. also)."""
    if isinstance(na_action, str):
        key = na_action if na_action.startswith("na.") else "na." + na_action
        key = key.replace("_", ".")
        if key in _NA_ACTIONS:
            return key
    raise ValueError(f"na_action must be one of {', '.join(repr(a) for a in _NA_ACTIONS)}, "
                     f"not {na_action!r}")


def _subset_mask(subset, ev: _Evaluator, n: int) -> np.ndarray:
    """R's ``subset=``: an expression on the data or one boolean per row -> row mask."""
    if subset is None:
        return np.ones(n, dtype=bool)
    if isinstance(subset, str):
        try:
            node = _parse(subset)
        except FormulaError as e:
            raise FormulaError(f"subset expression {subset!r} cannot be read: {e}") from None
        v = ev.eval(node)
        if v.kind != "lgl":
            raise PymerDataError(f"subset {subset!r} must be a logical (TRUE/FALSE) expression "
                                 f"such as 'Days >= 2', not a {'factor' if v.kind == 'fac' else 'number'}")
        return np.nan_to_num(v.data, nan=0.0) != 0
    if isinstance(subset, pd.Series):
        subset = subset.to_numpy()
    arr = np.asarray(subset)
    if arr.dtype != bool:
        raise PymerDataError(f"subset must be an expression string or one boolean per row, "
                             f"not an array of {arr.dtype}")
    if arr.shape != (n,):
        raise PymerDataError(f"subset has shape {arr.shape}; the data have {n} rows")
    return arr.copy()
