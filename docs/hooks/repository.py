"""MkDocs hook: pages built from the repository's own files, and executed examples.

Directives, each an HTML comment alone on its line in a page's Markdown:

``<!-- include PATH -->``
    the file's Markdown (bench/RESULTS.md, CHANGELOG.md); its headings one level down
    when the page has a title of its own above the directive;
``<!-- example PATH -->``
    an example script's source, then what it prints, run at build time with the Python
    that runs MkDocs (so pymer must be installed there: scripts/build_docs.sh does it);
``<!-- run -->`` ... ``<!-- /run -->`` around a fenced Python block
    the block, run at build time, then what it prints and, if it leaves a matplotlib
    figure ``fig``, that figure as an embedded PNG.

A failing example or block fails the build. ``bench/scaling.png`` is added to the site
for the speed page.
"""
from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
_INCLUDE = re.compile(r"^<!-- include (\S+) -->$", re.M)
_EXAMPLE = re.compile(r"^<!-- example (\S+) -->$", re.M)
_RUN = re.compile(r"^<!-- run -->\n```python\n(.*?)```\n<!-- /run -->$", re.M | re.S)
_FENCE = re.compile(r"^(```|~~~)")
_TIMEOUT = 600


def on_files(files, config):
    files.append(File.generated(config, "scaling.png", abs_src_path=str(ROOT / "bench" / "scaling.png")))
    return files


def on_page_markdown(markdown, page, config, files):
    markdown = _INCLUDE.sub(lambda m: _include(m.group(1), demote=_has_title(markdown[:m.start()])),
                            markdown)
    markdown = _EXAMPLE.sub(lambda m: _example(m.group(1)), markdown)
    return _RUN.sub(lambda m: _run_block(m.group(1), page.file.src_uri), markdown)


def _has_title(markdown: str) -> bool:
    return re.search(r"^# ", markdown, re.M) is not None


def _include(relpath: str, demote: bool) -> str:
    lines, fenced = [], False
    for line in _repo_file(relpath).read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        lines.append("#" + line if demote and line.startswith("#") and not fenced else line)
    return "\n".join(lines) + "\n"


def _example(relpath: str) -> str:
    path = _repo_file(relpath)
    out = _run([str(path)], f"example {relpath}")
    return (f"```python title=\"{relpath}\"\n{path.read_text(encoding='utf-8').rstrip()}\n```\n\n"
            f"What it prints (run when this page was built):\n\n```text\n{out.rstrip()}\n```\n")


def _run_block(code: str, where: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "figure.png"
        script = (f"{code}\nif 'fig' in globals():\n"
                  f"    fig.savefig({str(png)!r}, dpi=72, bbox_inches='tight')\n")
        out = _run(["-c", script], f"a Python block in {where}")
        parts = [f"```python\n{code}```\n"]
        if out.strip():
            parts.append(f"```text\n{out.rstrip()}\n```\n")
        if png.exists():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(f"![figure made by the code above](data:image/png;base64,{data})\n")
    return "\n".join(parts)


def _run(args: list[str], what: str) -> str:
    env = dict(os.environ, MPLBACKEND="Agg", PYMER_PROGRESS="0")
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=_TIMEOUT)
    if r.returncode != 0:
        raise PluginError(f"{what} failed (exit status {r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout


def _repo_file(relpath: str) -> Path:
    path = (ROOT / relpath).resolve()
    if ROOT not in path.parents or not path.is_file():
        raise PluginError(f"docs: no file {relpath!r} in the repository")
    return path
