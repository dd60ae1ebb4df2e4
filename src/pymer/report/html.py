"""HTML renderings of fitted models and their summaries, for Jupyter's ``_repr_html_``.

The plain-text summary (lme4's layout) stays the source of truth: its sections
are split at their headings, and the tabular ones (random effects, fixed
effects, correlations, the small statistic rows) become HTML tables built from
the result's own numbers; anything else is shown as preformatted text. Only
attributes every fitted model has are used (``varcorr``, ``ngrps``, ``fixef``,
``vcov``), so linear and generalized fits render alike.
"""
from __future__ import annotations

import html
import re

import numpy as np

from .rformat import abbreviate, format_pvalues, format_real, signif_stars

__all__ = ["summary_html", "result_html"]

_STYLE = (
    "<style>"
    ".pymer-model table{border-collapse:collapse;margin:0.2em 0 0.8em 0;font-size:0.95em}"
    ".pymer-model th,.pymer-model td{padding:0.15em 0.7em;text-align:right;"
    "font-family:monospace}"
    ".pymer-model th{border-bottom:1px solid #888}"
    ".pymer-model td.l,.pymer-model th.l{text-align:left}"
    ".pymer-model caption{text-align:left;font-weight:bold;padding:0.3em 0}"
    ".pymer-model .note{font-size:0.85em;color:#555;margin:0 0 0.8em 0}"
    ".pymer-model pre{margin:0.2em 0 0.8em 0}"
    "</style>"
)
_HEADINGS = ("Random effects:", "Fixed effects:", "Fixed Effects:", "Correlation of Fixed Effects:")


def _e(x) -> str:
    return html.escape(str(x))


def _blocks(text: str):
    """Split lme4-style text into blocks: a heading starts one, a blank line ends one."""
    blocks, cur = [], None
    for line in text.split("\n"):
        if line.strip() in _HEADINGS:
            cur = [line.strip()]
            blocks.append(cur)
        elif not line.strip():
            cur = None
        else:
            if cur is None:
                cur = []
                blocks.append(cur)
            cur.append(line)
    return blocks


def _table(header, rows, caption=None, left=1, header_spans=None) -> str:
    """An HTML table; the first `left` columns are left-aligned."""
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    if header is not None:
        cells = []
        for j, h in enumerate(header):
            span = (header_spans or {}).get(j, 1)
            if span == 0:
                continue
            cls = ' class="l"' if j < left else ""
            cs = f' colspan="{span}"' if span > 1 else ""
            cells.append(f"<th{cls}{cs}>{_e(h)}</th>")
        out.append("<thead><tr>" + "".join(cells) + "</tr></thead>")
    out.append("<tbody>")
    for r in rows:
        cells = [f'<td class="l">{_e(c)}</td>' if j < left else f"<td>{_e(c)}</td>"
                 for j, c in enumerate(r)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _pre(lines) -> str:
    return "<pre>" + _e("\n".join(lines)) + "</pre>"


def _header_html(lines) -> str:
    """First block: the title in bold, then the 'Key: value' lines, then a statistics row if any."""
    lines = [ln for ln in lines]
    stats_table = _row_table(lines[-2:]) if len(lines) >= 3 else None
    if stats_table is not None:
        lines = lines[:-2]
    k = 1
    while k < len(lines) and not re.match(r"^\s*[A-Za-z][\w .-]*:", lines[k]):
        k += 1                                 # a title wrapped over lines (glmer's)
    out = ["<p><b>" + "<br>".join(_e(ln.strip()) for ln in lines[:k]) + "</b>"]
    out += [f"<br>{_e(ln.strip())}" for ln in lines[k:]]
    return "".join(out) + "</p>" + (stats_table or "")


def _is_number(w: str) -> bool:
    try:
        float(w)
    except ValueError:
        return w in ("NA", "NaN", "Inf", "-Inf")
    return True


def _row_table(lines):
    """A block of a title line (optional) and two whitespace-aligned rows (names, values)."""
    title = None
    if len(lines) == 3:
        title, lines = lines[0].strip(), lines[1:]
    if len(lines) != 2:
        return None
    names, vals = lines[0].split(), lines[1].split()
    if not names or len(names) != len(vals) or any(_is_number(w) for w in names) \
            or not all(_is_number(v) for v in vals):
        return None
    return _table(names, [vals], caption=title.rstrip(": ") if title else None, left=0)


def _varcorr_html(result, with_variance: bool, groups_line: str | None) -> str:
    vc = result.varcorr
    groups = list(dict.fromkeys(vc["grp"]))
    var_rows = vc[vc["var2"].isna()]
    # as the text: 4 significant digits, one layout per column
    variances = [v.strip() for v in format_real(var_rows["vcov"].to_numpy(), 4)]
    sds = [v.strip() for v in format_real(var_rows["sdcor"].to_numpy(), 4)]
    fmt = dict(zip(var_rows.index, zip(variances, sds)))
    ncorr = 0
    body = []
    for g in groups:
        rows_g = vc[vc["grp"] == g]
        vr = rows_g[rows_g["var2"].isna()]
        cr = rows_g[rows_g["var2"].notna()]
        names = list(vr["var1"])
        ncorr = max(ncorr, len(names) - 1)
        for i, (idx, r) in enumerate(vr.iterrows()):
            corr = []
            for j in range(i):
                c = cr[(cr["var1"] == names[j]) & (cr["var2"] == names[i])]
                v = float(c["sdcor"].iloc[0]) if len(c) else np.nan
                corr.append("NaN" if np.isnan(v) else f"{v:.2f}")
            var, sd = fmt[idx]
            name = "" if r["var1"] is None or (isinstance(r["var1"], float) and np.isnan(r["var1"])) \
                else str(r["var1"])
            body.append(([g if i == 0 else "", name] + ([var] if with_variance else []) + [sd], corr))
    header = ["Groups", "Name"] + (["Variance"] if with_variance else []) + ["Std.Dev."]
    spans = {}
    if ncorr:
        header += ["Corr"] + [""] * (ncorr - 1)
        spans = {len(header) - ncorr: ncorr, **{len(header) - ncorr + k: 0 for k in range(1, ncorr)}}
    rows = [cells + corr + [""] * (ncorr - len(corr)) for cells, corr in body]
    out = _table(header, rows, caption="Random effects", left=2, header_spans=spans)
    if groups_line:
        out += f'<p class="note">{_e(groups_line.strip())}</p>'
    return out


def _coef_html(table, signif_lines) -> str:
    n = len(table)
    est_se = [c for c in ("Estimate", "Std. Error") if c in table.columns]
    cols = {}
    if est_se:
        fmt = format_real(table[est_se].to_numpy(dtype=float).ravel(order="F"), 4)
        for k, c in enumerate(est_se):
            cols[c] = [s.strip() for s in fmt[k * n:(k + 1) * n]]
    pcol = None
    for c in table.columns:
        if c in cols:
            continue
        v = table[c].to_numpy(dtype=float)
        if str(c).startswith("Pr("):
            pcol = c
            cols[c] = format_pvalues(v, 3)
        else:
            cols[c] = [s.strip() for s in format_real(np.round(v, 3), 4)]
    header = [""] + [str(c) for c in table.columns]
    rows = [[str(table.index[i])] + [cols[c][i] for c in table.columns] for i in range(n)]
    if pcol is not None:
        header.append("")
        for r, p in zip(rows, table[pcol].to_numpy(dtype=float)):
            r.append(signif_stars(p))
    out = _table(header, rows, caption="Fixed effects")
    notes = [ln for ln in signif_lines if ln.strip() and ln.strip() != "---"]
    if notes:
        out += "".join(f'<p class="note">{_e(ln.strip())}</p>' for ln in notes)
    return out


def _fixef_row_html(fixef) -> str:
    vals = [v.strip() for v in format_real(fixef.to_numpy(dtype=float), 4)]
    return _table(list(fixef.index), [vals], caption="Fixed effects", left=0)


def _corr_html(result) -> str | None:
    V = np.asarray(result.vcov, dtype=float)
    p = V.shape[0]
    if p < 2 or p > 12:
        return None
    sd = np.sqrt(np.diag(V))
    C = V / np.outer(sd, sd)
    names = list(result.vcov.index)
    header = [""] + abbreviate(names, 6)[:p - 1]
    rows = [[names[i]] + [f"{C[i, j]:.3f}" for j in range(i)] + [""] * (p - 1 - i)
            for i in range(1, p)]
    return _table(header, rows, caption="Correlation of fixed effects")


def _render(text: str, result=None, coefficients=None) -> str:
    blocks = _blocks(text)
    parts = [_STYLE, '<div class="pymer-model">']
    for k, b in enumerate(blocks):
        head = b[0].strip()
        if k == 0 and head not in _HEADINGS:
            parts.append(_header_html(b))
        elif head == "Random effects:" and result is not None and len(b) >= 2:
            groups_line = b[-1] if b[-1].lstrip().startswith("Number of obs") else None
            parts.append(_varcorr_html(result, "Variance" in b[1], groups_line))
        elif head == "Fixed effects:" and coefficients is not None:
            signif = [ln for ln in b[1:] if ln.startswith("---") or ln.startswith("Signif.")]
            parts.append(_coef_html(coefficients, signif))
        elif head == "Fixed Effects:" and result is not None:
            parts.append(_fixef_row_html(result.fixef))
        elif head == "Correlation of Fixed Effects:" and result is not None:
            t = _corr_html(result)
            parts.append(t if t is not None else _pre(b))
        elif len(b) == 1:
            parts.append(f"<p>{_e(b[0].strip())}</p>")
        else:
            t = _row_table(b)
            parts.append(t if t is not None else _pre(b))
    parts.append("</div>")
    return "".join(parts)


def summary_html(summary) -> str:
    """HTML of a :class:`pymer.results.Summary` (its ``result`` attribute, if set, gives the tables)."""
    return _render(summary.text, getattr(summary, "result", None),
                   getattr(summary, "coefficients", None))


def result_html(result) -> str:
    """HTML of a fitted model as printed (``print(m)``): header, random-effect SDs, fixed effects."""
    return _render(str(result), result, None)
