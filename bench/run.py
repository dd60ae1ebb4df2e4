#!/usr/bin/env python3
"""pymer's benchmark suite: pymer vs lme4 (vs statsmodels MixedLM) on one machine, in one run.

    python bench/run.py                      # full suite -> bench/RESULTS.md, bench/scaling.png
    python bench/run.py --quick              # small subset, a couple of minutes
    python bench/run.py --models sleepstudy insteval_ml synth --repeats 5
    python bench/run.py --report-only        # redo RESULTS.md / scaling.png from the last raw results

Every (model, tool) pair runs in its own fresh process, one after another
(never in parallel): ``bench/_worker.py`` for pymer and statsmodels,
``Rscript bench/lme4_bench.R`` for lme4. Each process loads the data, fits once
as a warm-up (peak memory is read right after it), then (when the warm-up took
under 1 s) one more untimed fit whose time sets the batch size of short fits,
then times ``--repeats`` more fits (fewer if they would exceed ``--budget``
seconds; none if the warm-up took more than ``--slow`` seconds) and the median
is reported.
See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchdata  # noqa: E402
from benchdata import BENCH_DIR, OUT_DIR, SYNTH_FORMULA  # noqa: E402

REPO = BENCH_DIR.parent
SYNTH_SIZES = [10_000, 30_000, 100_000, 300_000, 1_000_000]
REL_TOL = 1e-6

_SM_LINEAR_ONLY = ("statsmodels MixedLM is linear only (its BinomialBayesMixedGLM / "
                   "PoissonBayesMixedGLM are variational Bayes: not the same estimator)")


def _synth_name(n):
    return f"synth_{n // 1000}k" if n < 1_000_000 else f"synth_{n // 1_000_000}M"


def model_registry() -> dict:
    """name -> model spec. ``sm`` is the statsmodels spec or ``sm_skip`` says why not."""
    M = {}
    M["sleepstudy"] = dict(
        dataset="sleepstudy", formula="Reaction ~ Days + (Days | Subject)", REML=True,
        sm=dict(formula="Reaction ~ Days", groups="Subject", re_formula="~Days"))
    M["penicillin"] = dict(
        dataset="Penicillin", formula="diameter ~ 1 + (1|plate) + (1|sample)", REML=True,
        sm=dict(formula="diameter ~ 1", groups=None, re_formula="0",
                vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"}),
        sm_note="crossed factors as variance components of one all-data group")
    M["pastes"] = dict(
        dataset="Pastes", formula="strength ~ 1 + (1|batch/cask)", REML=True,
        sm=dict(formula="strength ~ 1", groups="batch", re_formula="1",
                vc_formula={"cask": "0 + C(cask)"}),
        sm_note="(1|batch) + cask variance component within batch")
    insteval_skip = ("crossed s x d x dept would need one all-data group with a dense "
                     "73421 x 4114 random-effects design (2.4 GB per copy)")
    M["insteval_ml"] = dict(
        dataset="InstEval", formula="y ~ service + (1 | s) + (1 | d) + (1 | dept)", REML=False,
        sm_skip=insteval_skip)
    M["insteval_int"] = dict(
        dataset="InstEval", formula="y ~ service * dept + (1 | s) + (1 | d)", REML=True,
        sm_skip=insteval_skip)
    M["cbpp"] = dict(
        dataset="cbpp", formula="cbind(incidence, size - incidence) ~ period + (1 | herd)",
        family="binomial", nAGQ=1, sm_skip=_SM_LINEAR_ONLY)
    M["grouseticks"] = dict(
        dataset="grouseticks",
        formula="TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD) + (1|INDEX) + (1|LOCATION)",
        family="poisson", nAGQ=1, sm_skip=_SM_LINEAR_ONLY)
    M["verbagg"] = dict(
        dataset="VerbAgg", formula="r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        family="binomial", nAGQ=1, sm_skip=_SM_LINEAR_ONLY)
    for n in SYNTH_SIZES:
        M[_synth_name(n)] = dict(
            synth_n=n, formula=SYNTH_FORMULA, REML=True,
            sm_skip="crossed g1 x g2 with a correlated random slope: not expressible in MixedLM")
    for name, spec in M.items():
        spec.setdefault("family", None)
        spec.setdefault("REML", True)
        spec["name"] = name
    return M


QUICK = ["sleepstudy", "penicillin", "pastes", "cbpp", "grouseticks", "synth_10k", "synth_30k",
         "synth_100k"]


# ---- running one job -------------------------------------------------------------------

def _reader(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def _transient(note: str) -> bool:
    return any(k in note for k in ("ImportError", "ModuleNotFoundError", "file too short",
                                   "undefined symbol", "CalledProcessError"))


def run_job(cmd, *, load_timeout, fit_timeout, budget, log_path, env=None):
    """Run a worker; collect its BENCH_JSON events; kill it (its process group) on a deadline.

    Deadlines: data loaded within load_timeout; first fit within fit_timeout after that;
    the timed repeats within budget + 2 x first fit + 60 s.
    """
    events, status = [], "ok"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO,
                                start_new_session=True, env=env)
        q: queue.Queue = queue.Queue()
        th = threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True)
        th.start()
        t_start = time.monotonic()
        deadline = t_start + load_timeout
        phase = "load"
        while True:
            try:
                line = q.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line:
                log.write(line)
                if line.startswith("BENCH_JSON "):
                    ev = json.loads(line[len("BENCH_JSON "):])
                    events.append(ev)
                    if ev["event"] == "loaded":
                        phase, deadline = "warm-up fit", time.monotonic() + fit_timeout
                    elif ev["event"] == "fit" and ev.get("warmup"):
                        phase = "repeats"
                        deadline = time.monotonic() + budget + 2 * ev["seconds"] + 60
                continue
            if time.monotonic() >= deadline:
                status = f"timeout ({phase})"
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
        proc.wait()
        th.join(timeout=5)
    return events, status, time.monotonic() - t_start


def summarize(events, status, wall):
    """One tool's result for one model from its events."""
    r = {"status": status, "wall": wall}
    for ev in events:
        e = ev["event"]
        if e == "unavailable":
            r["status"] = "not available"
            r["note"] = ev.get("message", "")
        elif e == "error":
            r["status"] = "error"
            r["note"] = ev.get("message", "")
        elif e == "loaded":
            r["rss_loaded_mb"] = ev.get("rss_mb")
            r["load_s"] = ev.get("seconds")
            r["nrow"] = ev.get("nrow")
        elif e == "fit" and ev.get("warmup"):
            for k, v in ev.items():
                if k not in ("event", "i", "warmup"):
                    r[{"seconds": "warmup_s", "cpu": "warmup_cpu"}.get(k, k)] = v
    timed = [ev["seconds"] for ev in events if ev["event"] == "fit" and not ev.get("warmup")]
    cpu = [ev["cpu"] for ev in events if ev["event"] == "fit" and not ev.get("warmup") and "cpu" in ev]
    r["times"], r["cpu_times"] = timed, cpu
    inner = [ev.get("inner", 1) for ev in events if ev["event"] == "fit" and not ev.get("warmup")]
    if inner:
        r["inner"] = inner[-1]
    if "warmup_s" in r:
        if timed:
            r["median_s"] = statistics.median(timed)
            if cpu:
                r["median_cpu"] = statistics.median(cpu)
        else:       # too slow to repeat: the single (warm-up) fit is the measurement
            r["median_s"] = r["warmup_s"]
            if r.get("warmup_cpu") is not None:
                r["median_cpu"] = r["warmup_cpu"]
            r["single_fit"] = True
        if r["status"].startswith("timeout"):
            r["status"] = "ok (repeats cut by timeout)"
    elif r["status"] == "ok":
        r["status"] = "error"
        r.setdefault("note", "no fit reported (see log)")
    return r


# ---- the suite -------------------------------------------------------------------------

def machine_info() -> dict:
    info = {"date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "python": platform.python_version(), "platform": platform.platform()}
    try:
        txt = Path("/proc/cpuinfo").read_text()
        models = [l.split(":", 1)[1].strip() for l in txt.splitlines() if l.startswith("model name")]
        info["cpu"] = models[0] if models else platform.processor()
        info["logical_cpus"] = len(models) or os.cpu_count()
        mhz = [l.split(":", 1)[1].strip() for l in txt.splitlines() if l.startswith("cpu MHz")]
        cache = [l.split(":", 1)[1].strip() for l in txt.splitlines() if l.startswith("cache size")]
        info["cpu_mhz"] = mhz[0] if mhz else ""
        info["cache"] = cache[0] if cache else ""
    except OSError:
        info["cpu"] = platform.processor()
    info["affinity_cpus"] = len(os.sched_getaffinity(0))
    try:
        mem = [l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")]
        info["mem_gb"] = round(int(mem[0].split()[1]) / 1024 ** 2, 1)
    except (OSError, IndexError):
        pass
    try:
        info["loadavg_start"] = os.getloadavg()
    except OSError:
        pass
    import numpy
    import scipy
    info["numpy"], info["scipy"] = numpy.__version__, scipy.__version__
    try:
        import statsmodels
        info["statsmodels"] = statsmodels.__version__
    except ImportError:
        info["statsmodels"] = "not installed"
    try:
        import pymer
        info["pymer"] = pymer.__version__
        info["pymer_glmer"] = hasattr(pymer, "glmer")
        from pymer._core import _pls
        info["pymer_core"] = _pls.__file__
    except Exception as e:  # noqa: BLE001
        info["pymer"] = f"import failed: {e}"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        info["git"] = rev + (" (src/ has uncommitted changes)" if dirty else "")
    except OSError:
        pass
    try:
        out = subprocess.run(["Rscript", str(BENCH_DIR / "lme4_bench.R"), "--versions"],
                             capture_output=True, text=True, timeout=120).stdout
        for line in out.splitlines():
            if line.startswith("BENCH_JSON "):
                info["R"] = json.loads(line[11:])
    except (OSError, subprocess.TimeoutExpired) as e:
        info["R"] = {"R": f"unavailable: {e}"}
    try:   # the BLAS behind pymer's CHOLMOD (system libblas.so.3 alternative)
        info["system_blas"] = os.path.realpath("/lib/x86_64-linux-gnu/libblas.so.3")
        info["suitesparse"] = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libcholmod3"], capture_output=True,
            text=True).stdout.strip() or subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libsuitesparse-dev"], capture_output=True,
            text=True).stdout.strip()
    except OSError:
        pass
    return info


def job_spec(model: dict, tool: str, args) -> dict:
    spec = {k: model.get(k) for k in ("name", "formula", "REML", "family", "nAGQ", "sm")}
    spec["tool"] = tool
    if "synth_n" in model:
        csv, types = benchdata.make_synth(model["synth_n"])
        spec["csv"], spec["types"] = str(csv), json.loads(types.read_text())
        spec["dataset"] = None
    else:
        spec["dataset"] = model["dataset"]
        spec["csv"] = str(benchdata.DATA_DIR / f"{model['dataset']}.csv")
        spec["types"] = benchdata.lme4_types(model["dataset"])
    spec["repeats"], spec["budget"], spec["slow"] = args.repeats, args.budget, args.slow
    return spec


SM_MISSING = "statsmodels is not installed (pip install statsmodels to compare with it)"


def statsmodels_missing() -> bool:
    """True when the workers' Python (this one) cannot import statsmodels: its jobs are
    skipped at once instead of each waiting for a failed import and its retry."""
    import importlib.util

    return importlib.util.find_spec("statsmodels") is None


def run_suite(names, args, registry):
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "specs").mkdir(exist_ok=True)
    (OUT_DIR / "logs").mkdir(exist_ok=True)
    results = {"machine": machine_info(), "models": {}, "args": vars(args).copy()}
    lme4_synth_timed_out = False
    sm_missing = "statsmodels" in args.tools and statsmodels_missing()
    if sm_missing:
        print(f"note: {SM_MISSING}; its jobs are skipped", flush=True)
    for name in names:
        model = registry[name]
        res = {"spec": {k: v for k, v in model.items() if k != "sm"}}
        if "synth_n" in model:
            benchdata.make_synth(model["synth_n"])
            res["spec"]["levels"] = benchdata.synth_levels(model["synth_n"])
        for tool in args.tools:
            if tool == "statsmodels" and "sm_skip" in model:
                res[tool] = {"status": "skipped", "note": model["sm_skip"]}
                continue
            if tool == "statsmodels" and sm_missing:
                res[tool] = {"status": "skipped", "note": SM_MISSING}
                continue
            if tool == "lme4" and "synth_n" in model and lme4_synth_timed_out:
                res[tool] = {"status": "skipped", "note": "a smaller synthetic size timed out"}
                continue
            spec = job_spec(model, tool, args)
            spec_path = OUT_DIR / "specs" / f"{name}.{tool}.json"
            spec_path.write_text(json.dumps(spec))
            if tool == "lme4":
                cmd = ["Rscript", str(BENCH_DIR / "lme4_bench.R"), str(spec_path)]
                fit_timeout = args.lme4_timeout
            else:
                cmd = [sys.executable, str(BENCH_DIR / "_worker.py"), str(spec_path)]
                fit_timeout = args.sm_timeout if tool == "statsmodels" else args.pymer_timeout
            budget = min(args.budget, fit_timeout) if tool == "statsmodels" else args.budget
            print(f"[{time.strftime('%H:%M:%S')}] {name:14s} {tool:11s} ...", end=" ", flush=True)
            env = dict(os.environ)
            if tool == "pymer":
                env.update(args.pymer_env)
            for attempt in range(2):
                load_before = os.getloadavg()[0]
                events, status, wall = run_job(cmd, load_timeout=300, fit_timeout=fit_timeout,
                                               budget=budget, env=env,
                                               log_path=OUT_DIR / "logs" / f"{name}.{tool}.log")
                r = summarize(events, status, wall)
                # the editable install rebuilds on import: another developer's rebuild can
                # make one import fail ("file too short"); try once more
                if attempt == 0 and r["status"] == "error" and _transient(r.get("note", "")):
                    print("(import failed, retrying in 30 s)", end=" ", flush=True)
                    time.sleep(30)
                    continue
                break
            r["loadavg"] = [load_before, os.getloadavg()[0]]
            if status.startswith("timeout") and "median_s" not in r:
                r["status"] = "timeout"
                r["note"] = f"no fit within {fit_timeout:g} s"
                if tool == "lme4" and "synth_n" in model:
                    lme4_synth_timed_out = True
            res[tool] = r
            msg = (f"{r['median_s']:.3f} s (n_timed={len(r['times'])})" if "median_s" in r
                   else r["status"] + (": " + r.get("note", "")[:100] if r.get("note") else ""))
            print(msg, flush=True)
        results["models"][name] = res
        Path(args.raw).write_text(json.dumps(results, indent=1, default=str))
    results["machine"]["loadavg_end"] = os.getloadavg()
    Path(args.raw).write_text(json.dumps(results, indent=1, default=str))
    return results


# ---- the report ------------------------------------------------------------------------

def _fmt_s(r, key="median_s"):
    if not r:
        return "-"
    if key in r:
        s = f"{r[key]:.3g}" if r[key] < 100 else f"{r[key]:.0f}"
        return s + ("*" if r.get("single_fit") else "")
    if key != "median_s" and "median_s" in r:
        return "-"
    return r.get("status", "-")


def _ratio(num, den, key):
    if num and den and key in num and key in den and den[key] > 0:
        return f"{num[key] / den[key]:.2f}"
    return "-"


def _fmt_int(v):
    return "-" if v is None else str(int(v)) if isinstance(v, (int, float)) else str(v)


def _fmt_num(v, spec="{:.1f}"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else spec.format(v)


def _obj(r):
    return r.get("objective") if r and "objective" in r else None


def _agree(a, b):
    """pymer's objective a against lme4's b: equal within REL_TOL, lower (better), or higher."""
    if a is None or b is None:
        return "-"
    rel = (a - b) / max(abs(b), 1e-300)
    if abs(rel) <= REL_TOL:
        return f"yes ({abs(rel):.1e})"
    if rel < 0:
        return f"lower ({rel:.1e})"
    return f"**no: higher** ({rel:.1e})"


def _nrows(res):
    for t in ("pymer", "lme4", "statsmodels"):
        r = res.get(t) or {}
        if r.get("nrow"):
            return r["nrow"]
    return res["spec"].get("synth_n", "-")


def report(results, out_md: Path, out_png: Path | None):
    m = results["machine"]
    R = m.get("R", {})
    lines = ["# pymer benchmark results", ""]
    cmd = " ".join(["python bench/run.py"] + list(results.get("argv", [])))
    lines += [f"Generated by `{cmd}`. See bench/README.md for the method.", ""]
    lines += ["## Machine and versions", "",
              f"- date: {m.get('date')}",
              f"- CPU: {m.get('cpu')} ({m.get('logical_cpus')} logical CPUs, {m.get('affinity_cpus')} usable; "
              f"{m.get('cpu_mhz')} MHz, cache {m.get('cache')}), {m.get('mem_gb')} GB RAM; shared machine, "
              f"load average at start {_fmt_load(m.get('loadavg_start'))}, at end {_fmt_load(m.get('loadavg_end'))}",
              f"- Python {m.get('python')}, numpy {m.get('numpy')}, scipy {m.get('scipy')}, "
              f"statsmodels {m.get('statsmodels')}",
              f"- pymer {m.get('pymer')} (git {m.get('git')}); glmer available: {m.get('pymer_glmer')}; "
              f"CHOLMOD from SuiteSparse {m.get('suitesparse')} (system), BLAS {m.get('system_blas')}",
              f"- {R.get('R')}, lme4 {R.get('lme4')}, Matrix {R.get('Matrix')}; R's BLAS {R.get('BLAS')}",
              f"- {m.get('platform')}", ""]
    if results.get("args", {}).get("pymer_env"):
        lines += [f"**pymer ran with extra environment {results['args']['pymer_env']}** (an experiment, "
                  "not the default configuration).", ""]
    a = results.get("args", {})
    lines += ["Each (model, tool) pair ran alone in a fresh process, one after another. Time: median "
              f"of up to {a.get('repeats')} timed samples after one warm-up fit and, when that took under 1 s, "
              "one untimed fit that sets the batch size (fewer samples when they would "
              f"exceed {a.get('budget')} s; `*` = the single fit was slower than {a.get('slow')} s and "
              "is the measurement; a sample of a fast model is the mean of several consecutive fits, "
              "as the per-model tables say). Peak memory: peak RSS of the process (VmHWM) after the warm-up "
              "fit, data and libraries included; in brackets the growth over the RSS after loading "
              "the data. Objective: REML criterion (REML fits) or -2 log-likelihood, agreement "
              f"with lme4 to {REL_TOL:g} relative (`lower`: pymer's is lower, a better optimum). Evaluations: `m.opt.nevals` (pymer) and "
              "`fit@optinfo$feval` (lme4), the optimizer's evaluations without the "
              "convergence checks' finite differences.", ""]
    # summary table
    lines += ["## Summary", "",
              "Wall = elapsed seconds (median); CPU = CPU seconds of the whole process, all threads "
              "(median of the same fits): less sensitive to the other jobs on this shared machine.", "",
              "| model | n | pymer wall s | lme4 wall s | lme4/pymer wall | pymer CPU s | lme4 CPU s | lme4/pymer CPU | statsmodels wall s | peak MB pymer / lme4 | objective agrees | evals pymer / lme4 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, res in results["models"].items():
        p, l, s = res.get("pymer") or {}, res.get("lme4") or {}, res.get("statsmodels") or {}
        lines.append(f"| {name} | {_nrows(res)} | {_fmt_s(p)} | {_fmt_s(l)} | {_ratio(l, p, 'median_s')} | "
                     f"{_fmt_s(p, 'median_cpu')} | {_fmt_s(l, 'median_cpu')} | {_ratio(l, p, 'median_cpu')} | "
                     f"{_fmt_s(s)} | "
                     f"{_fmt_num(p.get('peak_mb'), '{:.0f}')} / {_fmt_num(l.get('peak_mb'), '{:.0f}')} | "
                     f"{_agree(_obj(p), _obj(l)).split(' (')[0]} | "
                     f"{_fmt_int(p.get('nevals'))} / {_fmt_int(l.get('nevals'))} |")
    lines.append("")
    # per model
    lines += ["## Per model", ""]
    for name, res in results["models"].items():
        sp = res["spec"]
        title = f"### {name}: `{sp['formula']}`"
        extra = []
        if sp.get("family"):
            extra.append(f"family {sp['family']}, nAGQ={sp.get('nAGQ', 1)}")
        else:
            extra.append("REML" if sp.get("REML") else "ML (REML=FALSE)")
        if sp.get("synth_n"):
            extra.append(f"synthetic, g1: {sp['levels'][0]} levels, g2: {sp['levels'][1]} levels")
        else:
            extra.append(f"data {sp.get('dataset')}")
        lines += [title, "", f"n = {_nrows(res)}; " + "; ".join(extra), ""]
        lines += ["| | pymer | lme4 | statsmodels |", "|---|---:|---:|---:|"]
        P, L, S = (res.get(t) or {} for t in ("pymer", "lme4", "statsmodels"))
        row = lambda label, f: lines.append(f"| {label} | {f(P)} | {f(L)} | {f(S)} |")  # noqa: E731
        row("median wall s", _fmt_s)
        row("median CPU s", lambda r: _fmt_s(r, "median_cpu"))
        row("timed samples x fits per sample", lambda r: (
            "1 (the warm-up fit)" if r.get("single_fit") else
            f"{len(r.get('times', []))} x {r.get('inner', 1)}" if "median_s" in r else "-"))
        row("timed samples, wall s", lambda r: ", ".join(f"{t:.3g}" for t in r.get("times", [])) or "-")
        row("warm-up fit wall s", lambda r: _fmt_num(r.get("warmup_s"), "{:.3g}"))
        row("lme4 wall / this wall", lambda r: _ratio(L, r, "median_s") if r and r is not L else "-")
        row("lme4 CPU / this CPU", lambda r: _ratio(L, r, "median_cpu") if r and r is not L else "-")
        row("peak RSS MB (growth)", lambda r: (f"{r['peak_mb']:.0f} ({r['peak_mb'] - r['rss_loaded_mb']:.0f})"
                                               if r.get("peak_mb") is not None and r.get("rss_loaded_mb") is not None
                                               else "-"))
        row("objective", lambda r: _fmt_num(_obj(r), "{:.6f}"))
        row("agrees with lme4", lambda r: _agree(_obj(r), _obj(L)) if r is not L else "-")
        row("evaluations", lambda r: _fmt_int(r.get("nevals")))
        row("load average (1 min) before / after", lambda r: (f"{r['loadavg'][0]:.1f} / {r['loadavg'][1]:.1f}"
                                                              if r.get("loadavg") else "-"))
        row("status", lambda r: r.get("status", "-") + (f": {r['note']}" if r.get("note") else ""))
        warn = [(t, w) for t in ("pymer", "lme4", "statsmodels")
                for w in ((res.get(t) or {}).get("warnings") or [])]
        if warn:
            lines += ["", "Warnings during the warm-up fit: " + "; ".join(f"{t}: {w}" for t, w in warn)]
        lines.append("")
    if out_png is not None:
        made = plot_scaling(results, out_png)
        if made:
            lines += ["## Scaling", "", f"![time against n]({out_png.name})", "",
                      f"Synthetic design `{SYNTH_FORMULA}`: n rows, g1 with n/100 levels (random "
                      "intercept and slope), g2 with sqrt(n) levels, crossed; generated by "
                      "`bench/benchdata.py` (numpy, fixed seed).", ""]
    out_md.write_text("\n".join(lines))


def _fmt_load(v):
    return "-" if not v else "/".join(f"{x:.2f}" for x in v)


def plot_scaling(results, out_png: Path) -> bool:
    tools = ("pymer", "lme4")
    wall = {t: [] for t in tools}
    cpu = {t: [] for t in tools}
    mem = {t: [] for t in tools}
    timeouts = []
    for name, res in results["models"].items():
        n = res["spec"].get("synth_n")
        if not n:
            continue
        for t in tools:
            r = res.get(t) or {}
            if "median_s" in r:
                wall[t].append((n, r["median_s"]))
                if r.get("median_cpu") is not None:
                    cpu[t].append((n, r["median_cpu"]))
                if r.get("peak_mb") is not None:
                    mem[t].append((n, r["peak_mb"]))
            elif t == "lme4" and r.get("status") in ("timeout", "skipped"):
                timeouts.append(n)
    if not any(wall.values()):
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    style = {"pymer": dict(color="C0", marker="o"), "lme4": dict(color="C3", marker="s")}
    for t in tools:
        if wall[t]:
            x, y = zip(*sorted(wall[t]))
            ax.plot(x, y, label=f"{t} wall", **style[t])
        if cpu[t]:
            x, y = zip(*sorted(cpu[t]))
            ax.plot(x, y, label=f"{t} CPU (all threads)", linestyle="--", alpha=0.7,
                    color=style[t]["color"], marker=style[t]["marker"], markerfacecolor="none")
    if timeouts:
        top = results.get("args", {}).get("lme4_timeout", 600)
        ax.scatter(timeouts, [top] * len(timeouts), marker="^", color="C3", facecolors="none",
                   label=f"lme4 timeout (> {top:g} s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows n")
    ax.set_ylabel("median time per fit (s)")
    ax.set_title(SYNTH_FORMULA + "\n(g1: n/100 levels, g2: sqrt(n) levels)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    for t in tools:
        if mem[t]:
            x, y = zip(*sorted(mem[t]))
            ax2.plot(x, y, label=t, **style[t])
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.yaxis.set_major_formatter(ScalarFormatter())
    ax2.yaxis.set_minor_formatter(ScalarFormatter())
    ax2.tick_params(axis="y", which="minor", labelsize=7)
    ax2.set_xlabel("rows n")
    ax2.set_ylabel("peak RSS of the process (MB)")
    ax2.set_title("peak memory (interpreter, libraries and data included)", fontsize=9)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    env = results.get("args", {}).get("pymer_env")
    fig.suptitle(f"{results['machine'].get('cpu')}, {results['machine'].get('logical_cpus')} CPUs, "
                 f"{results['machine'].get('date')}" + (f"; pymer env {env}" if env else ""), fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return True


# ---- command line ------------------------------------------------------------------------

def main(argv=None):
    registry = model_registry()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"run only {', '.join(QUICK)}")
    ap.add_argument("--models", nargs="+", metavar="NAME",
                    help="models to run (a prefix selects several, e.g. 'synth', 'insteval'); "
                         f"known: {', '.join(registry)}")
    ap.add_argument("--tools", nargs="+", default=["pymer", "lme4", "statsmodels"],
                    choices=["pymer", "lme4", "statsmodels"])
    ap.add_argument("--repeats", type=int, default=None, help="timed fits after the warm-up (default 5, quick 3)")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="seconds allowed for the timed fits of one (model, tool) (default 120)")
    ap.add_argument("--slow", type=float, default=60.0,
                    help="a warm-up fit slower than this is the only fit (default 60 s)")
    ap.add_argument("--lme4-timeout", type=float, default=600.0, help="per-fit timeout for lme4 (s)")
    ap.add_argument("--pymer-timeout", type=float, default=1200.0, help="per-fit timeout for pymer (s)")
    ap.add_argument("--sm-timeout", type=float, default=120.0, help="per-fit timeout for statsmodels (s)")
    ap.add_argument("--pymer-env", nargs="+", default=[], metavar="KEY=VALUE",
                    help="extra environment for the pymer processes (experiments, e.g. "
                         "OMP_THREAD_LIMIT=1); recorded in the report")
    ap.add_argument("--output", type=Path, default=None,
                    help="markdown report (default bench/RESULTS.md for the full suite, "
                         "bench/out/RESULTS-partial.md otherwise)")
    ap.add_argument("--plot", type=Path, default=None,
                    help="scaling plot (default bench/scaling.png for the full suite, "
                         "bench/out/scaling-partial.png otherwise)")
    ap.add_argument("--raw", type=Path, default=None, help="raw results JSON (default in bench/out/)")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from --raw")
    args = ap.parse_args(argv)

    try:
        args.pymer_env = dict(kv.split("=", 1) for kv in args.pymer_env)
    except ValueError:
        ap.error("--pymer-env takes KEY=VALUE pairs")
    partial = args.quick or bool(args.models) or bool(args.pymer_env)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.raw is None:
        args.raw = OUT_DIR / ("results-partial.json" if partial else "results.json")
    if args.output is None:
        args.output = OUT_DIR / "RESULTS-partial.md" if partial else BENCH_DIR / "RESULTS.md"
    if args.plot is None:
        args.plot = OUT_DIR / "scaling-partial.png" if partial else BENCH_DIR / "scaling.png"
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    if args.report_only:
        results = json.loads(Path(args.raw).read_text())
        report(results, args.output, args.plot)
        print(f"wrote {args.output}")
        return 0

    if args.models:
        names = []
        for want in args.models:
            hit = [k for k in registry if k == want] or [k for k in registry if k.startswith(want)]
            if not hit:
                ap.error(f"unknown model {want!r}; known: {', '.join(registry)}")
            names += [h for h in hit if h not in names]
    elif args.quick:
        names = QUICK
    else:
        names = list(registry)

    results = run_suite(names, args, registry)
    results["argv"] = sys.argv[1:] if argv is None else list(argv)
    Path(args.raw).write_text(json.dumps(results, indent=1, default=str))
    report(results, args.output, args.plot)
    print(f"wrote {args.output}, {args.plot}, {args.raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
