"""Issue 16: type hints on every public function and result property, checked by mypy.

- mypy (>= 2.4, configured in pyproject.toml's [tool.mypy]) finds no errors in src/pymer;
- user code is checked against pymer's hints (a snippet with planted mistakes gets exactly
  those errors), so the hints are not ``Any`` in disguise;
- every public function, method and property of the public modules is fully annotated
  (an ``ast`` walk of the source), and the check finds a missing annotation;
- the names type checkers see in ``pymer/__init__.py`` are those of its lazy table.

mypy's cache lives in pytest's cache directory: the first run checks numpy and pandas'
stubs too (about 35 s CPU), later runs only what changed (a few seconds).
"""
import ast
import textwrap
from pathlib import Path

import mypy.api
import pytest

import pymer

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "pymer"
CONFIG = ROOT / "pyproject.toml"

# The modules of the public API: what pymer.__all__ / the lazy table reach, the result
# classes, and the objects their methods return.
PUBLIC_MODULES = [
    "__init__.py", "dispatch.py", "lmm.py", "glmm.py", "many.py", "errors.py", "families.py",
    "profile.py", "datasets/__init__.py",
    "tmb/__init__.py", "tmb/model.py", "tmb/result.py", "tmb/families.py",
    "fixed/__init__.py", "fixed/base.py", "fixed/lm.py", "fixed/glm.py", "fixed/lmlist.py",
    "results/__init__.py", "results/base.py", "results/lmm.py", "results/glmm.py",
    "checking/__init__.py", "checking/residuals.py", "checking/htest.py",
    "contrasts/__init__.py", "contrasts/emmeans.py", "contrasts/glht.py", "contrasts/grid.py",
    "predictions/__init__.py", "predictions/response.py", "predictions/se.py",
    "predictions/augment.py",
    "inference/__init__.py", "inference/lrt.py", "inference/intervals.py", "inference/bootmer.py",
    "inference/profile.py", "inference/hypotheses.py", "inference/ddf.py",
    "inference/ddf_summary.py", "inference/params.py", "inference/table.py",
    "report/plots.py", "report/tidy.py", "report/summary.py",
    "dask/__init__.py", "dask/model.py",
]
# dunder methods whose parameters are public API too
PUBLIC_DUNDERS = {"__init__", "__call__"}


def unannotated(source: str) -> list[str]:
    """Public functions, methods and properties in `source` lacking a parameter or return
    annotation (``self``/``cls`` and ``__init__``'s return excepted), as "name(what)"."""
    out = []

    def check(fn, owner):
        if fn.name.startswith("_") and fn.name not in PUBLIC_DUNDERS:
            return
        a = fn.args
        params = a.posonlyargs + a.args + a.kwonlyargs
        static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
        if owner and params and not static:
            params = params[1:]
        missing = [p.arg for p in params if p.annotation is None]
        missing += ["*" + p.arg for p in (a.vararg, a.kwarg) if p is not None and p.annotation is None]
        if fn.returns is None and fn.name != "__init__":
            missing.append("return")
        if missing:
            out.append(f"{owner + '.' if owner else ''}{fn.name}({', '.join(missing)})")

    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            check(node, "")
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    check(item, node.name)
    return out


def run_mypy(cache_dir: Path, *targets: str) -> tuple[str, int]:
    stdout, stderr, status = mypy.api.run(["--config-file", str(CONFIG), "--cache-dir", str(cache_dir),
                                           "--no-error-summary", *targets])
    return stdout + stderr, status


@pytest.fixture(scope="module")
def mypy_cache(request, tmp_path_factory) -> Path:
    cache = getattr(request.config, "cache", None)        # None with -p no:cacheprovider
    return Path(cache.mkdir("mypy")) if cache is not None else tmp_path_factory.mktemp("mypy")


def test_mypy_finds_no_errors_in_pymer(mypy_cache):
    out, status = run_mypy(mypy_cache, str(PKG))
    assert status == 0 and out.strip() == "", out


def test_mypy_checks_user_code_against_the_hints(mypy_cache, tmp_path):
    # planted mistakes a user could make; the last two lines are correct and must pass
    user = tmp_path / "user_code.py"
    user.write_text(textwrap.dedent("""\
        import pymer
        data = pymer.datasets.load("sleepstudy")
        m = pymer.lmer("Reaction ~ Days + (Days | Subject)", data)
        text: int = m.summary()
        f = pymer.lmer("Reaction ~ Days + (Days | Subject)", data, dev_fun_only=True)
        f.summary()
        r = m.residuals(type="raw")
        ok: float = m.aic + pymer.lm("Reaction ~ Days", data).aic + f(f.start)
        either = pymer.lmer("Reaction ~ Days + (Days | Subject)", data, dev_fun_only=ok > 0)
        """))
    out, status = run_mypy(mypy_cache, str(user))
    errors = sorted(line.split(":")[1] for line in out.splitlines() if ": error:" in line)
    assert status == 1 and errors == ["4", "6", "7"], out
    assert '"Summary", variable has type "int"' in out
    assert '"DevFun" has no attribute "summary"' in out
    assert "Literal['raw']" in out and '"type" to "residuals"' in out


def test_public_functions_methods_and_properties_are_annotated():
    missing = {m: unannotated((PKG / m).read_text()) for m in PUBLIC_MODULES}
    missing = {m: v for m, v in missing.items() if v}
    assert missing == {}


def test_the_annotation_check_finds_what_is_missing():
    src = textwrap.dedent("""\
        def public(x, y: int = 1) -> int: ...
        def _private(x): ...
        def complete(*args: int, **kw: str) -> None: ...
        class Result:
            def __init__(self, model) -> None: ...
            @property
            def sigma(self): ...
            def fine(self, level: float = 0.95) -> float: ...
            def star(self, *others) -> None: ...
            def _hidden(self, z): ...
        """)
    assert unannotated(src) == ["public(x)", "Result.__init__(model)", "Result.sigma(return)",
                                "Result.star(*others)"]


def test_every_public_name_comes_from_a_checked_module():
    modules = {str(p.relative_to(PKG)) for p in PKG.rglob("*.py")}
    assert set(PUBLIC_MODULES) <= modules
    for name in pymer.__all__:
        obj = getattr(pymer, name)
        mod = getattr(obj, "__module__", None) or obj.__name__
        if mod.startswith("pymer."):
            path = mod[len("pymer."):].replace(".", "/")
            assert f"{path}.py" in PUBLIC_MODULES or f"{path}/__init__.py" in PUBLIC_MODULES, name


def test_type_checkers_see_the_lazy_names():
    # pymer/__init__.py imports its lazy table's names under TYPE_CHECKING only
    tree = ast.parse((PKG / "__init__.py").read_text())
    seen = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                seen |= {a.asname or a.name for a in imp.names}
    assert seen == set(pymer._LAZY)
