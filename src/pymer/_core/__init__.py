"""pymer's compiled core: penalized least squares on CHOLMOD and PIRLS for GLMMs.

Debian's CHOLMOD runs its supernodal kernels on a fixed number of OpenMP
threads, which spin-wait on small machines: measured in bench/ (RESULTS.md),
per-evaluation time fell 3-4x with OMP_THREAD_LIMIT=1 (synthetic 100k rows:
38.6 ms -> 9.3 ms). libgomp reads the variable when CHOLMOD first loads, so it
is set here, before the extension modules import, unless the user set it.
"""
import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
