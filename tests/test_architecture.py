"""The house rules, checked on the source: no import cycle among pymer's modules (imports
inside functions counted), no module (.py, .pyx or .pxd) over 800 lines, and the layers'
one-way dependencies."""
import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pymer"
MAX_LINES = 800

# the layers, top to bottom: a module may import its own layer's siblings and anything below
LAYERS = [
    {"pymer", "pymer.__main__", "pymer.cli", "pymer.plots", "pymer.tidy", "pymer.profile", "pymer.dispatch"},
    {"pymer.lmm", "pymer.glmm", "pymer.glmm_fit", "pymer.fixed", "pymer.dask", "pymer.many", "pymer.tmb"},
    {"pymer.results"},
    {"pymer.predictions", "pymer.checking", "pymer.contrasts"},
    {"pymer.inference"},
    {"pymer.report"},
    {"pymer.call", "pymer.formula", "pymer.terms", "pymer.families", "pymer.optimize", "pymer.numdiff",
     "pymer.validate", "pymer.residualize", "pymer.errors", "pymer.datasets", "pymer._progress", "pymer._core", "pymer._version"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports(path: Path, name: str, known) -> set:
    """pymer modules `path` imports anywhere in its body (functions included)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import sub` imports the submodule when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t.startswith("pymer") and t != name:
                out.add(t)
    return out


def graph():
    mods = modules()
    return {m: imports(p, m, mods) for m, p in mods.items()}


def test_no_module_over_800_lines():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def compiled_sources():
    """The Cython sources (.pyx) and declarations (.pxd) under src/pymer."""
    return sorted(p for ext in ("*.pyx", "*.pxd") for p in SRC.rglob(ext))


def test_no_compiled_module_over_800_lines():
    files = compiled_sources()
    assert any(p.name == "_pls.pyx" for p in files)    # the check sees the compiled core
    long = {str(p.relative_to(SRC)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"Cython files over {MAX_LINES} lines: {long}"


def test_no_import_cycle():
    g = graph()
    # Tarjan's strongly connected components
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            sccs.append(comp)

    for v in g:
        if v not in index:
            visit(v)
    cycles = [sorted(c) for c in sccs if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def layer_of(mod: str):
    best = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            # "pymer" is the package's __init__ alone; other names cover their subpackages
            if (mod == prefix or (prefix != "pymer" and mod.startswith(prefix + "."))) and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    return None if best is None else best[0]


def test_every_module_has_a_layer():
    unplaced = [m for m in modules() if layer_of(m) is None]
    assert not unplaced, f"modules outside the layer table: {unplaced}"


def test_dependencies_run_one_way():
    upward = []
    for mod, targets in graph().items():
        lm = layer_of(mod)
        for t in targets:
            lt = layer_of(t)
            if lt is not None and lm is not None and lt < lm:
                upward.append(f"{mod} -> {t}")
    assert not upward, "imports against the layers (models -> results -> inference -> report -> " \
                       "formula/terms/core): " + ", ".join(sorted(upward))


def test_the_checks_can_fail(tmp_path):
    # the cycle finder sees a cycle made of imports inside functions
    pkg = tmp_path / "pymer"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text("def g():\n    from . import a\n")
    mods = {module_name_in(tmp_path, p): p for p in pkg.rglob("*.py")}
    g = {m: imports_in(tmp_path, p, m, mods) for m, p in mods.items()}
    assert "pymer.b" in g["pymer.a"] and "pymer.a" in g["pymer.b"]


def module_name_in(root, path):
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(root, path, name, known):
    global SRC
    old = SRC
    SRC = root / "pymer"
    try:
        return imports(path, name, known)
    finally:
        SRC = old


@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_layer_table_names_real_modules(layer):
    mods = modules()
    for prefix in LAYERS[layer]:
        assert any(m == prefix or m.startswith(prefix + ".") for m in mods), prefix


def test_unplaced_and_upward_are_seen():
    assert layer_of("pymer.somewhere_new") is None
    assert layer_of("pymer.report.tidy") > layer_of("pymer.results.base") > layer_of("pymer.lmm")


def installed_by_meson() -> set:
    """Every file a meson.build under src/pymer installs (quoted names in install_sources and
    the python_sources list, relative to that meson.build's folder)."""
    import re
    out = set()
    for mb in SRC.rglob("meson.build"):
        text = mb.read_text()
        for name in re.findall(r"'([^']+\.(?:py|pyx|pxd|csv|json|md|typed))'", text):
            out.add((mb.parent / name).relative_to(SRC).as_posix())
    return out


def test_every_python_source_is_installed():
    # a clean `pip install .` installs only what the meson.build files list
    listed = installed_by_meson()
    sources = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")}
    missing = sorted(sources - listed)
    assert not missing, f"not listed in any meson.build (a pip install would lack them): {missing}"
