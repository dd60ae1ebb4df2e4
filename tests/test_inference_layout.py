"""The inference package's seams: it imports no result or model module (it asks a result
what it is), its modules import one way (no cycle, imports inside functions counted),
none is over 800 lines, the former import paths still work, and every method that moves
a model's shared compiled core leaves it at the fit."""
import ast
import pathlib
import pickle

import numpy as np
import pytest

import pymer

SRC = pathlib.Path(pymer.__file__).parent
MODULES = sorted((SRC / "inference").glob("*.py")) + [SRC / "numdiff.py"]


def _module_name(path):
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """Every pymer module `path` imports, at module level or inside functions."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("pymer")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("pymer"):
                out.add(mod)
                # "from . import x" / "from .pkg import sub" may name submodules
                out |= {f"{mod}.{a.name}" for a in node.names
                        if (SRC.parent / (mod + "." + a.name).replace(".", "/")).with_suffix(".py").exists()}
    return out


def test_inference_imports_no_result_or_model_module():
    above = ("pymer.results", "pymer.lmm", "pymer.glmm")
    bad = {_module_name(p): sorted(m for m in _imports(p) if m == a or m.startswith(a + "."))
           for p in MODULES for a in above}
    assert {k: v for k, v in bad.items() if v} == {}


def test_inference_modules_import_one_way_and_are_short():
    graph = {_module_name(p): {m for m in _imports(p)
                               if m == "pymer.inference" or m.startswith("pymer.inference.")}
             for p in MODULES}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])
    long = {p.name: n for p in MODULES if (n := len(p.read_text().splitlines())) > 800}
    assert long == {}


def test_former_import_paths():
    import pymer.inference as inf
    from pymer.profile import Profile, profile

    assert pymer.profile is profile                      # the function, as pymer/__init__ binds it
    assert Profile is inf.Profile
    for name in ("anova", "drop1", "contest", "confint", "bootstrap", "summary_with_ddf",
                 "anova_ddf", "AnovaTable", "BootstrapResult", "RefitWarning", "param_names",
                 "sdcor_params", "richardson_hessian", "richardson_jacobian"):
        assert callable(getattr(inf, name)), name
    from pymer.numdiff import finite_diff_derivs
    from pymer.optimize import check_convergence

    assert check_convergence.__globals__["finite_diff_derivs"] is finite_diff_derivs


@pytest.fixture(scope="module")
def dyestuff():
    return pymer.lmer("Yield ~ 1 + (1 | Batch)", pymer.datasets.load("Dyestuff"))


def _core_at_fit(m):
    core = m.model.core
    return core.pwrss == pytest.approx(m.pwrss, rel=1e-12) and core.logdetL == pytest.approx(m.logdetL, rel=1e-12)


def test_profile_leaves_the_core_at_the_fit(dyestuff):
    m = dyestuff
    prof = m.profile(which=[".sig01"])
    assert _core_at_fit(m)
    prof.confint()              # root-finding on zeta moves the core again
    assert _core_at_fit(m)


def test_profile_refuses_what_is_not_a_fit():
    with pytest.raises(TypeError, match="fitted model.*not int"):
        pymer.profile(42)


def test_bootstrap_worker_gets_the_pickled_result(dyestuff):
    """The spawn path: the worker's state is the unpickled result (its model rebuilt
    from the model frame), and its replicates equal the in-process ones."""
    import pymer.inference.bootmer as bootmer

    def slope(r):
        return r.fixef.to_numpy()

    b = dyestuff.bootstrap(slope, nsim=2, seed=5)
    clone = pickle.loads(pickle.dumps(dyestuff))
    assert clone.model is not dyestuff.model and clone.model.core is not dyestuff.model.core
    bootmer._boot_init(clone, slope, False)
    try:
        vals = [bootmer._boot_one(s)[0] for s in np.random.SeedSequence(5).spawn(2)]
    finally:
        bootmer._WORKER.pop("state", None)
    np.testing.assert_array_equal(b.t, np.vstack(vals))
