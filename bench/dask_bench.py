"""Issue 15's bar: pymer on Dask (rows beyond one process) and lmer_many (many responses).

    PYTHONPATH=src python3 bench/dask_bench.py [--rows 1000000,2000000] [--responses 2000]
        [--r-responses 200] [--loop-responses 2000] [--repeats 3] [--row-repeats 3]
        [--out bench/DASK_RESULTS.md] [--glmm-rows 2000000] [--glmm-repeats 1]

Rows: y ~ x + (1 | g) + (1 | h) with 2,000 x 50 crossed levels, generated partition by
partition from a seed (the Dask frame is made with ``from_map`` on the workers, so the
rows never pass through the client); the in-memory fit gets the same rows. Each
timing is the median of ``--repeats`` runs (wall clock, whole call).
Many: ``~ x + (1 | ind) + (1 | batch)``, 240 observations (24 ind x 10, 6 batches),
``--responses`` responses: lmer_many in process and on a LocalCluster(2 workers), a
Python loop of pymer.lmer, and a loop of lme4::lmer in R (the dream way) on the
first ``--r-responses`` responses (time per response x responses).
GLMM (``--glmm-rows``): a binary ``y ~ x + (1 | g)``, 1,000 levels, generated on the
workers as the rows benchmark; pymer.glmer (Laplace) on Dask vs in memory.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

import pymer

ROWS_PER_PART = 250_000
FORMULA = "y ~ x + (1 | g) + (1 | h)"


def make_part(i, rows=ROWS_PER_PART):
    """Partition i of the rows benchmark (deterministic in i)."""
    rng = np.random.default_rng(1000 + i)
    g = rng.integers(0, 2000, rows)
    h = rng.integers(0, 50, rows)
    ug = np.random.default_rng(1).normal(0, 0.7, 2000)
    uh = np.random.default_rng(2).normal(0, 0.4, 50)
    x = rng.normal(size=rows)
    y = 1.0 + 0.3 * x + ug[g] + uh[h] + rng.normal(size=rows)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical.from_codes(g, [f"g{k:04d}" for k in range(2000)]),
                         "h": pd.Categorical.from_codes(h, [f"h{k:02d}" for k in range(50)])})


def median_time(f, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def bench_rows(client, sizes, repeats, dask_only=()):
    import dask.dataframe as dd

    rows = []
    proc = psutil.Process()
    for n in sizes:
        nparts = max(1, n // ROWS_PER_PART)
        ddf = dd.from_map(make_part, list(range(nparts)))
        rss0 = proc.memory_info().rss
        t_dask, m_dask = median_time(lambda: quiet(pymer.lmer, FORMULA, ddf), repeats)
        grow = (proc.memory_info().rss - rss0) / 2 ** 20
        if n in dask_only:
            # the rows exist only on the workers: no in-memory fit to compare with
            t_mem, rel, dfix = np.nan, np.nan, np.nan
        else:
            df = pd.concat([make_part(i) for i in range(nparts)], ignore_index=True)
            t_mem, m_mem = median_time(lambda: quiet(pymer.lmer, FORMULA, df), repeats)
            rel = abs(m_dask.objective - m_mem.objective) / abs(m_mem.objective)
            dfix = float(np.max(np.abs(m_dask.fixef.to_numpy() - m_mem.fixef.to_numpy())))
        rows.append({"rows": n, "partitions": nparts, "in_memory_s": t_mem, "dask_s": t_dask,
                     "in_memory_rows_per_s": n / t_mem, "dask_rows_per_s": n / t_dask,
                     "objective_rel_diff": rel, "max_fixef_abs_diff": dfix,
                     "client_rss_growth_mb": grow,
                     "worker_rss_after_mb": max(client.run(lambda: psutil.Process().memory_info().rss).values())
                     / 2 ** 20})
        print(rows[-1], flush=True)
    return rows


def many_design(R, seed=7):
    rng = np.random.default_rng(seed)
    meta = pd.DataFrame({"x": rng.normal(size=240), "ind": np.repeat([f"i{i:02d}" for i in range(24)], 10),
                         "batch": np.tile([f"b{i}" for i in range(6)], 40)})
    ind = np.repeat(np.arange(24), 10)
    bat = np.tile(np.arange(6), 40)
    Y = (rng.normal(size=(240, R)) + rng.normal(0, 0.8, (24, R))[ind] + rng.normal(0, 0.5, (6, R))[bat]
         + 0.2 * meta["x"].to_numpy()[:, None])
    return meta, Y


def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def r_loop(meta, Y, nresp):
    with tempfile.TemporaryDirectory() as tmp:
        d = meta.copy()
        for j in range(nresp):
            d[f"r{j}"] = Y[:, j]
        csv = Path(tmp) / "d.csv"
        d.to_csv(csv, index=False)
        script = f"""
suppressMessages(library(lme4))
d <- read.csv("{csv}")
d$ind <- factor(d$ind); d$batch <- factor(d$batch)
obj <- numeric({nresp})
t0 <- proc.time()[["elapsed"]]
for (j in seq_len({nresp})) {{
  d$y <- d[[paste0("r", j - 1)]]
  m <- lmer(y ~ x + (1 | ind) + (1 | batch), data = d, REML = TRUE)
  obj[j] <- REMLcrit(m)
}}
el <- proc.time()[["elapsed"]] - t0
cat(jsonlite::toJSON(list(seconds = el, objective = obj), digits = NA, auto_unbox = TRUE))
"""
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def bench_many(client, R, nloop, nr, repeats):
    meta, Y = many_design(R)
    rhs = "~ x + (1 | ind) + (1 | batch)"
    quiet(pymer.lmer_many, rhs, Y[:, :20], meta)                          # warm-up
    t_many, fits = median_time(lambda: quiet(pymer.lmer_many, rhs, Y, meta), repeats)
    quiet(pymer.lmer_many, rhs, Y[:, :20], meta, client=client)
    t_cluster, fits_c = median_time(lambda: quiet(pymer.lmer_many, rhs, Y, meta, client=client), repeats)

    def loop():
        out = []
        for j in range(nloop):
            out.append(quiet(pymer.lmer, "y " + rhs, meta.assign(y=Y[:, j])).objective)
        return np.array(out)

    t_loop, obj_loop = median_time(loop, 1)
    t_loop_all = t_loop * R / nloop
    r = r_loop(meta, Y, nr)
    t_r_all = r["seconds"] * R / nr
    obj_r = np.array(r["objective"])
    res = {
        "responses": R, "lmer_many_in_process_s": t_many, "lmer_many_cluster_s": t_cluster,
        "pymer_loop_s": t_loop_all, "pymer_loop_responses_timed": nloop,
        "lme4_loop_s": t_r_all, "lme4_responses_timed": nr, "lme4_ms_per_response": 1e3 * r["seconds"] / nr,
        "speedup_vs_pymer_loop_in_process": t_loop_all / t_many,
        "speedup_vs_pymer_loop_cluster": t_loop_all / t_cluster,
        "speedup_vs_lme4_in_process": t_r_all / t_many, "speedup_vs_lme4_cluster": t_r_all / t_cluster,
        "max_rel_diff_objective_vs_pymer_lmer": float(np.max(np.abs(fits.objective.to_numpy()[:nloop] - obj_loop)
                                                             / np.abs(obj_loop))),
        "max_rel_diff_cluster_vs_in_process": float(np.max(np.abs(fits_c.objective - fits.objective)
                                                           / np.abs(fits.objective))),
        "max_diff_objective_vs_lme4": float(np.max(fits.objective.to_numpy()[:nr] - obj_r)),
    }
    print(res, flush=True)
    return res


def write_md(path, rows, many, args):
    lines = ["# Dask scale-out and many responses (issue 15)", "",
             f"Machine: {os.cpu_count()} cores, shared; Dask LocalCluster(n_workers=2, threads_per_worker=1, "
             f"processes=True); medians of {args.repeats} runs for many responses, {args.row_repeats} for rows "
             "(wall clock, whole call).",
             "Command: `PYTHONPATH=src python3 bench/dask_bench.py " + " ".join(sys.argv[1:]) + "`", ""]
    if rows:
        lines += ["## Rows: `y ~ x + (1 | g) + (1 | h)`, 2,000 x 50 crossed levels", "",
                  "| rows | partitions | in memory (s) | Dask (s) | in memory rows/s | Dask rows/s | "
                  "objective rel. diff | max fixef diff | client RSS growth (MB) | largest worker RSS after (MB) |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['rows']:,} | {r['partitions']} | {r['in_memory_s']:.2f} | {r['dask_s']:.2f} | "
                         f"{r['in_memory_rows_per_s']:,.0f} | {r['dask_rows_per_s']:,.0f} | "
                         f"{r['objective_rel_diff']:.1e} | {r['max_fixef_abs_diff']:.1e} | "
                         f"{r['client_rss_growth_mb']:.0f} | {r['worker_rss_after_mb']:.0f} |")
        lines.append("")
    if many:
        m = many
        lines += [f"## Many responses: {m['responses']:,} responses x 240 observations, "
                  "`~ x + (1 | ind) + (1 | batch)`", "",
                  "| method | seconds | per response (ms) | lmer_many in process is ... x faster | "
                  "lmer_many on 2 workers is ... x faster |", "|---|---:|---:|---:|---:|",
                  f"| lmer_many, in process | {m['lmer_many_in_process_s']:.2f} | "
                  f"{1e3 * m['lmer_many_in_process_s'] / m['responses']:.2f} | | |",
                  f"| lmer_many, LocalCluster 2 workers | {m['lmer_many_cluster_s']:.2f} | "
                  f"{1e3 * m['lmer_many_cluster_s'] / m['responses']:.2f} | | |",
                  f"| loop of pymer.lmer ({m['pymer_loop_responses_timed']} timed) | {m['pymer_loop_s']:.2f} | "
                  f"{1e3 * m['pymer_loop_s'] / m['responses']:.2f} | {m['speedup_vs_pymer_loop_in_process']:.1f} | "
                  f"{m['speedup_vs_pymer_loop_cluster']:.1f} |",
                  f"| loop of lme4::lmer in R ({m['lme4_responses_timed']} timed) | {m['lme4_loop_s']:.2f} | "
                  f"{m['lme4_ms_per_response']:.2f} | {m['speedup_vs_lme4_in_process']:.1f} | "
                  f"{m['speedup_vs_lme4_cluster']:.1f} |", "",
                  f"Same answers: objective vs pymer.lmer per response, max rel. diff "
                  f"{m['max_rel_diff_objective_vs_pymer_lmer']:.1e}; cluster vs in process "
                  f"{m['max_rel_diff_cluster_vs_in_process']:.1e}; pymer minus lme4 REML criterion, max "
                  f"{m['max_diff_objective_vs_lme4']:.1e} (negative: pymer lower).", ""]
    Path(path).write_text("\n".join(lines))


# ---- GLMM option (--glmm-rows): glmer on a Dask DataFrame ---------------------------------
GLMM_FORMULA = "y ~ x + (1 | g)"


def make_glmm_part(i, rows=ROWS_PER_PART):
    """Partition i of the GLMM benchmark: a binary response, 1,000 levels of g."""
    rng = np.random.default_rng(5000 + i)
    g = rng.integers(0, 1000, rows)
    ug = np.random.default_rng(3).normal(0, 0.8, 1000)
    x = rng.normal(size=rows)
    eta = -0.5 + 0.6 * x + ug[g]
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-eta))).astype(np.float64)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical.from_codes(g, [f"g{k:04d}" for k in range(1000)])})


def bench_glmm(client, sizes, repeats):
    import dask.dataframe as dd

    out = []
    proc = psutil.Process()
    for n in sizes:
        nparts = max(1, n // ROWS_PER_PART)
        ddf = dd.from_map(make_glmm_part, list(range(nparts)))
        rss0 = proc.memory_info().rss
        cpu0 = time.process_time()
        t_dask, m_dask = median_time(lambda: quiet(pymer.glmer, GLMM_FORMULA, ddf, family="binomial"), repeats)
        cpu_dask = (time.process_time() - cpu0) / repeats
        grow = (proc.memory_info().rss - rss0) / 2 ** 20
        df = pd.concat([make_glmm_part(i) for i in range(nparts)], ignore_index=True)
        cpu0 = time.process_time()
        t_mem, m_mem = median_time(lambda: quiet(pymer.glmer, GLMM_FORMULA, df, family="binomial"), repeats)
        cpu_mem = (time.process_time() - cpu0) / repeats
        out.append({"rows": n, "partitions": nparts, "in_memory_s": t_mem, "dask_s": t_dask,
                    "in_memory_cpu_s": cpu_mem, "dask_client_cpu_s": cpu_dask,
                    "in_memory_rows_per_s": n / t_mem, "dask_rows_per_s": n / t_dask,
                    "passes": m_dask.model.rows.npasses // repeats,
                    "deviance_rel_diff": abs(m_dask.objective - m_mem.objective) / abs(m_mem.objective),
                    "max_fixef_abs_diff": float(np.max(np.abs(m_dask.fixef.to_numpy() - m_mem.fixef.to_numpy()))),
                    "max_fixef_rel_diff": float(np.max(np.abs(m_dask.fixef.to_numpy() - m_mem.fixef.to_numpy())
                                                       / np.abs(m_mem.fixef.to_numpy()))),
                    "max_theta_rel_diff": float(np.max(np.abs(np.asarray(m_dask.theta) - np.asarray(m_mem.theta))
                                                       / np.abs(np.asarray(m_mem.theta)))),
                    "fixef_in_memory": m_mem.fixef.to_numpy().tolist(), "fixef_dask": m_dask.fixef.to_numpy().tolist(),
                    "theta_in_memory": np.asarray(m_mem.theta).tolist(), "theta_dask": np.asarray(m_dask.theta).tolist(),
                    "deviance_in_memory": float(m_mem.objective), "deviance_dask": float(m_dask.objective),
                    "client_rss_growth_mb": grow})
        print(out[-1], flush=True)
    return out


def glmm_md(rows, repeats):
    lines = [f"## GLMM: binary `{GLMM_FORMULA}`, 1,000 levels, Laplace (pymer.glmer, medians of {repeats})", "",
             "| rows | partitions | in memory (s) | Dask (s) | in memory CPU (s) | Dask client CPU (s) | "
             "in memory rows/s | Dask rows/s | passes over the rows | deviance rel. diff | max fixef rel. diff | "
             "max theta rel. diff | client RSS growth (MB) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['rows']:,} | {r['partitions']} | {r['in_memory_s']:.2f} | {r['dask_s']:.2f} | "
                     f"{r['in_memory_cpu_s']:.2f} | {r['dask_client_cpu_s']:.2f} | {r['in_memory_rows_per_s']:,.0f} | "
                     f"{r['dask_rows_per_s']:,.0f} | {r['passes']} | {r['deviance_rel_diff']:.1e} | "
                     f"{r['max_fixef_rel_diff']:.1e} | {r['max_theta_rel_diff']:.1e} | {r['client_rss_growth_mb']:.0f} |")
    return lines + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000000,2000000")
    ap.add_argument("--responses", type=int, default=2000, help="0: skip the many-responses part")
    ap.add_argument("--loop-responses", type=int, default=2000)
    ap.add_argument("--r-responses", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--row-repeats", type=int, default=3)
    ap.add_argument("--dask-only-rows", default="", help="sizes fitted on Dask only (e.g. 20000000)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "DASK_RESULTS.md"))
    ap.add_argument("--glmm-rows", default="", help="GLMM sizes (e.g. 2000000); alone: only the GLMM part")
    ap.add_argument("--glmm-repeats", type=int, default=1)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, memory_limit="3GB",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        glmm_sizes = [int(s) for s in args.glmm_rows.split(",") if s]
        if glmm_sizes:
            glmm = bench_glmm(client, glmm_sizes, args.glmm_repeats)
            # the table for bench/DASK_RESULTS.md's GLMM section (the other parts are not run)
            print("\n".join(glmm_md(glmm, args.glmm_repeats)))
            return
        dask_only = [int(s) for s in args.dask_only_rows.split(",") if s]
        sizes = [int(s) for s in args.rows.split(",") if s] + dask_only
        many = bench_many(client, args.responses, args.loop_responses, args.r_responses, args.repeats) \
            if args.responses else None
        rows = bench_rows(client, sizes, args.row_repeats, dask_only)
    write_md(args.out, rows, many, args)


if __name__ == "__main__":
    main()
