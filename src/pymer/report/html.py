"""HTML renderings of summaries and printed fits, for Jupyter's ``_repr_html_``.

A summary is a list of sections (:class:`pymer.report.summary.Section`), each
with lme4's printed lines and the numbers behind them; the tabular ones (fit
statistics, scaled residuals, random effects, fixed effects, correlations)
become HTML tables built from those numbers, never from the printed text; a
section without numbers is shown as its lines.
"""
from __future__ import annotations

import html
import re

import numpy as np

from .rformat import abbreviate, coef_cells, format_real, signif_stars

__all__ = ["render_html"]

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


def _e(x) -> str:
    return html.escape(str(x))


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
    """The title in bold (it may wrap over lines, as glmer's does), then the 'Key: value' lines."""
    lines = [ln for ln in lines if ln.strip()]
    k = 1
    while k < len(lines) and not re.match(r"^\s*[A-Za-z][\w .-]*:", lines[k]):
        k += 1
    out = ["<p><b>" + "<br>".join(_e(ln.strip()) for ln in lines[:k]) + "</b>"]
    out += [f"<br>{_e(ln.strip())}" for ln in lines[k:]]
    return "".join(out) + "</p>"


def _row_html(names, values, caption=None) -> str:
    return _table(list(names), [list(values)], caption=caption, left=0)


def _varcorr_html(vc, with_variance: bool, groups_line: str | None) -> str:
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
    cols, pcol = coef_cells(table, 4)                 # the text table's cells
    cols = {c: [x.strip() for x in v] for c, v in cols.items()}
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


def _corr_html(vcov) -> str | None:
    V = np.asarray(vcov, dtype=float)
    p = V.shape[0]
    if p < 2 or p > 12:
        return None
    sd = np.sqrt(np.diag(V))
    C = V / np.outer(sd, sd)
    names = list(vcov.index)
    header = [""] + abbreviate(names, 6)[:p - 1]
    rows = [[names[i]] + [f"{C[i, j]:.3f}" for j in range(i)] + [""] * (p - 1 - i)
            for i in range(1, p)]
    return _table(header, rows, caption="Correlation of fixed effects")


def _section_html(sec, coefficients) -> str:
    kind, lines, data = sec.kind, [ln for ln in sec.lines if ln.strip()], sec.data
    if not lines:
        return ""
    if kind == "header":
        return _header_html(lines)
    if kind == "stats" and data is not None:
        return _row_html(*data)
    if kind == "residuals":
        names, values = data
        return _row_html(names, values, caption="Scaled residuals")
    if kind == "varcorr":
        return _varcorr_html(data["varcorr"], data["with_variance"], data["groups"])
    if kind == "coefficients":
        signif = [ln for ln in lines if ln.startswith("---") or ln.startswith("Signif.")]
        return _coef_html(data, signif)
    if kind == "fixef":
        return _fixef_row_html(data)
    if kind == "correlation" and data is not None:
        t = _corr_html(data)
        if t is not None:
            return t
    if kind == "text":
        return _pre(lines) + (_coef_html(coefficients, []) if coefficients is not None else "")
    if len(lines) == 1 or kind in ("stats", "messages"):
        return "".join(f"<p>{_e(ln.strip())}</p>" for ln in lines)
    return _pre(lines)


def render_html(sections, coefficients=None) -> str:
    """HTML of a summary's sections (a text-only summary: its text, then the coefficient table)."""
    parts = [_STYLE, '<div class="pymer-model">']
    parts += [_section_html(s, coefficients) for s in sections]
    parts.append("</div>")
    return "".join(parts)
