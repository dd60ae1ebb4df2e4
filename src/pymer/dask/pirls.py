"""PIRLS over the partitions of a Dask DataFrame: the compiled PIRLS's steps, each
pass over the rows done where the rows are.

:class:`PartitionRows` holds each partition's design (y, prior weights, offset, X, Z
row-wise and its positions in Z'WZ) persisted on the workers; one *pass* sends the
small vectors (beta, b = Lambda u) out and brings back the sums of
:func:`pymer.dask._pirls_rows.pirls_pass`, reduced by a tree.

:class:`DaskPIRLS` has the interface of :class:`pymer._core._pirls.PIRLS` (``laplace``,
``u_vec``, ``beta_vec``, ``devsum``, ``ldL2``, ...), so the in-memory GLMM's
optimization, warm starts, convergence checks and result run on it unchanged. Its
loop is the compiled one's (``run`` in _pirls.pyx): factor at the current point,
propose the Newton step, stop when the step is below ``tol_here`` (or take a step
below ``tol`` and stop), halve steps that do not lower the penalized deviance. Each
point visited costs one pass, which brings both its deviance (for the step test) and
its cross-products (for the factorization that follows when it is accepted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import dask
import numpy as np

from ..errors import PymerDataError
from ._pirls_rows import aic_constant, pirls_pass, predict_pass
from .design import add


@dataclass(frozen=True)
class Compensated:
    """A sum carried as (s, c), s + c its value: the partitions' compensated deviance sums
    (:mod:`pymer._core._compensated`), added exactly enough (Knuth's two-sum of the
    leading parts, the compensations summed) that the total does not depend on how the
    rows were split into partitions or the order the tree reduction adds them: it is the
    in-memory PIRLS's compensated sum over the same rows, to far below one rounding."""

    s: float
    c: float = 0.0

    def __add__(self, other: "Compensated") -> "Compensated":
        s = self.s + other.s
        bb = s - self.s
        err = (self.s - (s - bb)) + (other.s - bb)
        return Compensated(s, self.c + other.c + err)

    def __float__(self) -> float:
        return self.s + self.c if math.isfinite(self.s) else self.s


def _sum_all(*parts):
    out = parts[0]
    for p in parts[1:]:
        out = add(out, p)
    return out


def tree(items, split_every=8):
    """Tree reduction (elementwise sums of tuples) of delayed partition results."""
    while len(items) > 1:
        items = [dask.delayed(_sum_all)(*items[i:i + split_every])
                 for i in range(0, len(items), split_every)]
    return items[0]


def _pass(state, beta, b, family, link, nb_theta, joint, with_z, loglik, nnz, ref_db, ref_dbeta):
    valid, veta, dev, ll, ztz, ZtXz, XztXz, far = pirls_pass(
        state["y"], state["pw"], state["offset"], state["X"], state["zcols"], state["zvals"],
        state["zpos"], beta, b, family, link, nb_theta, joint, with_z, loglik, nnz, ref_db, ref_dbeta)
    return (int(not valid), int(not veta), Compensated(*dev), ll, ztz, ZtXz, XztXz, far)


def _predict_pass(state, beta, b, dbeta, db, family, link, nb_theta, joint):
    return predict_pass(state["y"], state["pw"], state["offset"], state["X"], state["zcols"],
                        state["zvals"], beta, b, dbeta, db, family, link, nb_theta, joint)


def _aic_constant(state, family, nb_theta):
    ok, c, c_comp = aic_constant(state["y"], state["pw"], family, nb_theta)
    return (int(not ok), Compensated(c, c_comp))


def current_client():
    """The dask.distributed client in use, or None (Dask's local schedulers)."""
    try:
        from distributed import get_client
        return get_client()
    except (ImportError, ValueError):
        return None


class PartitionRows:
    """The per-partition designs of a GLMM, persisted where they were built, and the
    passes over them.

    With a ``dask.distributed`` client the states are futures and a pass submits one
    task per partition on them (the scheduler places it where its state is), reduced
    on the workers by a tree when there are more than `split_every` partitions; without
    one, a Dask graph on persisted delayed objects.
    """

    def __init__(self, states, p, q, nnz, family, split_every=8, client=None):
        self.states = states
        self.client = client
        self.p, self.q, self.nnz = p, q, nnz
        self.family = family
        self.split_every = split_every
        self.npasses = 0
        self._aic = {}

    @classmethod
    def persist(cls, delayed_states, **kwargs):
        """Compute the states and keep them on the workers (futures with a client)."""
        client = current_client()
        if client is not None:
            states = client.compute(list(delayed_states))
        else:
            states = list(dask.persist(*delayed_states))
        return cls(states, client=client, **kwargs)

    def map(self, fn, *args):
        """fn(state, *args) for every partition's state (delayed objects or futures)."""
        if self.client is not None:
            return [self.client.submit(fn, s, *args, pure=False) for s in self.states]
        return [dask.delayed(fn)(s, *args) for s in self.states]

    def reduce(self, items):
        """The elementwise sum of the partitions' tuples (a tree on the workers)."""
        if self.client is None:
            return tree(items, self.split_every).compute()
        while len(items) > self.split_every:
            items = [self.client.submit(_sum_all, *items[i:i + self.split_every], pure=False)
                     for i in range(0, len(items), self.split_every)]
        return _sum_all(*self.client.gather(items))

    def gather(self, items):
        """The partitions' results, in order."""
        if self.client is None:
            return list(dask.compute(*items))
        return self.client.gather(items)

    def update(self, fn, *args):
        """Replace each state by fn(state, *args), kept where it is."""
        new = self.map(fn, *args)
        self.states = new if self.client is not None else list(dask.persist(*new))

    def sums(self, beta, b, nb_theta, *, joint, with_z=True, loglik=False, ref_db=None, ref_dbeta=None):
        """(invalid mu count, invalid eta count, deviance sum, -2 log-lik sum, Z'WZ values,
        Z'W[X z], [X z]'W[X z], rows that Z ref_db + X ref_dbeta moves by more than 1)
        over all rows at (beta, b)."""
        fam = self.family
        beta = np.ascontiguousarray(beta, dtype=np.float64)
        b = np.ascontiguousarray(b if with_z else np.zeros(self.q), dtype=np.float64)
        none = np.zeros(0)
        ref_db = none if ref_db is None else np.ascontiguousarray(ref_db, dtype=np.float64)
        ref_dbeta = none if ref_dbeta is None else np.ascontiguousarray(ref_dbeta, dtype=np.float64)
        self.npasses += 1
        return self.reduce(self.map(_pass, beta, b, fam.code, fam.link_code, nb_theta, joint, with_z,
                                    loglik, self.nnz, ref_db, ref_dbeta))

    def predict_sums(self, beta, b, dbeta, db, nb_theta, *, joint):
        """(Z'W d eta, Z'W r, X'W d eta) over all rows, at the mode (beta, b) with d eta =
        X dbeta + Z db (see :func:`pymer.dask._pirls_rows.predict_pass`)."""
        fam = self.family
        args = [np.ascontiguousarray(v, dtype=np.float64) for v in (beta, b, dbeta, db)]
        self.npasses += 1
        return self.reduce(self.map(_predict_pass, *args, fam.code, fam.link_code, nb_theta, joint))

    def aic_constant(self, nb_theta):
        """(ok, c) with -2 log-likelihood = c + deviance for every mean (see
        :func:`pymer.dask._pirls_rows.aic_constant`), over all partitions."""
        if nb_theta not in self._aic:
            bad, c = self.reduce(self.map(_aic_constant, self.family.code, nb_theta))
            self._aic[nb_theta] = (bad == 0, float(c))
        return self._aic[nb_theta]


@dataclass
class _Point:
    """A point of PIRLS with its pass: validity, deviance and cross-products there."""

    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    valid: bool
    devsum: float
    m2loglik: float
    ztz: np.ndarray
    ZtXz: np.ndarray
    XztXz: np.ndarray
    usq: float
    far: int = 0

    @property
    def pdev(self) -> float:
        return self.devsum + self.usq if np.isfinite(self.devsum) else np.inf


class DaskPIRLS:
    """PIRLS on partitioned rows with the compiled PIRLS's interface.

    Parameters
    ----------
    rows : PartitionRows
    pls : pymer._core._pls.PLS
        The core the sums are factored in: p = 0 (u only) or p fixed effects (joint,
        nAGQ = 0).
    family : pymer.families.Family
    """

    def __init__(self, rows: PartitionRows, pls, family):
        self.rows = rows
        self.pls = pls
        self.family = family.code
        self.link = family.link_code
        self.nb_theta = float(family.theta or 1.0)
        self.joint = pls.p > 0
        self.p, self.q = rows.p, pls.q
        self.maxit = 100
        self.tol = 1e-10
        self.tol_here = 1e-13
        self.u = np.zeros(self.q)
        self.beta = np.zeros(self.p)
        self.b = np.zeros(self.q)
        self.pdev = self.ldL2 = self.devsum = self.aic = self.usq = np.nan
        self.iterations = self.status = 0
        self.at_mode = False
        self._theta = None
        self._mode_theta = np.zeros(0)
        self._mode_nb_theta = np.nan

    # ---- one point, one factorization --------------------------------------------
    def _point(self, beta, u, ref_db=None, ref_dbeta=None) -> _Point:
        b = self.pls.Lambdat_apply(u)                       # Lambda u (theta installed)
        ok, _ = self.rows.aic_constant(self.nb_theta)
        bad, _, dev, ll, ztz, ZtXz, XztXz, far = self.rows.sums(
            beta, b, self.nb_theta, joint=self.joint, loglik=not ok, ref_db=ref_db, ref_dbeta=ref_dbeta)
        return _Point(np.array(beta, dtype=np.float64), np.array(u, dtype=np.float64), b, bad == 0,
                      float(dev), float(ll), ztz, ZtXz, XztXz, math.fsum(np.square(u)), int(far))

    def _factor(self, pt: _Point) -> int:
        self.pls.set_crossprods(pt.ztz, pt.ZtXz, pt.XztXz)
        self.pls.set_theta(self._theta)                     # Lambda' Z'WZ Lambda at the sums
        st = self.pls.update()
        if st != 0:
            self.status = 10 + st
        return st

    def _set(self, pt: _Point):
        self.beta, self.u, self.b, self.usq = pt.beta, pt.u, pt.b, pt.usq

    def _run(self, first: _Point | None = None) -> int:
        """The compiled PIRLS's run() (see pymer._core._pirls), one pass per point; from
        ``first`` when its pass is already done (a predicted mode)."""
        self.at_mode = False
        pt = self._point(self.beta, self.u) if first is None else first
        if not pt.valid:
            # a warm start outside the family's domain: start again from u = 0
            pt = self._point(self.beta, np.zeros(self.q))
            if not pt.valid:
                self.status = 30
                return self.status
        self._set(pt)
        self.status = 0
        it, last, pdev_old = 0, False, np.nan
        while True:
            if self._factor(pt) != 0:
                return self.status
            if it >= self.maxit:
                if self.maxit > 0:
                    self.status = 1
                break
            beta_new = self.pls.solve_fixed() if self.joint else self.beta
            u_new = self.pls.solve_u(beta_new if self.joint else np.zeros(0))
            it += 1
            d = np.max(np.abs(u_new - pt.u), initial=0.0)
            a = np.max(np.abs(pt.u), initial=0.0)
            if self.joint:
                d = max(d, np.max(np.abs(beta_new - pt.beta), initial=0.0))
                a = max(a, np.max(np.abs(pt.beta), initial=0.0))
            s = d / (1.0 + a)
            if s < self.tol_here:
                break
            if s < self.tol:
                last = True
            old = pt
            improved = False
            if s < 1e-6:
                cand = self._step(old, beta_new, u_new, 1.0)
                improved = cand.valid
                pdev_old = np.nan
            else:
                if np.isnan(pdev_old):
                    pdev_old = old.pdev
                s = 1.0
                for _ in range(30):
                    cand = self._step(old, beta_new, u_new, s)
                    if cand.valid and cand.pdev <= pdev_old + 1e-10 * abs(pdev_old):
                        improved = True
                        pdev_old = cand.pdev
                        break
                    s *= 0.5
            if not improved:
                # no step improves: back to the last point, whose factor is in the core
                break
            pt = cand
            self._set(pt)
            if last:
                if self._factor(pt) != 0:
                    return self.status
                break
        self._set(pt)
        pdev = pt.pdev
        if not np.isfinite(pdev):
            self.status = 30
            return self.status
        self.iterations = it
        self.pdev = pdev
        self.devsum = pt.devsum
        self.ldL2 = float(self.pls.logdetL)
        self.at_mode = self.status == 0 and it > 0
        self._mode_nb_theta = self.nb_theta
        self._mode_theta = np.array(self._theta, copy=True)
        ok, c = self.rows.aic_constant(self.nb_theta)
        self.aic = c + pt.devsum if ok else pt.m2loglik
        return self.status

    def _step(self, old: _Point, beta_new, u_new, s) -> _Point:
        u = old.u + s * (u_new - old.u)
        beta = old.beta + s * (beta_new - old.beta) if self.joint else old.beta
        return self._point(beta, u)

    # ---- the compiled PIRLS's Python API --------------------------------------------
    def _predicted(self, theta, beta) -> _Point | None:
        """The compiled PIRLS's predict_u: from the mode at the last theta (and beta), the
        first-order prediction of the mode at theta (and beta, u-only) with its pass, or
        None when a solve fails or the prediction moves some linear predictor by more than
        1 (the same test). One pass at the mode brings the sums the prediction needs
        (Z'W d eta, Z'W r, X'W d eta); the factor of the mode is still in the core.

        With M = Lambda'Z'WZ Lambda + I at the mode and d eta = Z dLambda u + X d beta,
        M du = -(Lambda'Z'W d eta - dLambda'Z'W r), r = (y - mu)/mu_eta; joint, bordered by
        X'WZ Lambda du + X'WX d beta = -X'W d eta (solved with R_ZX and R_X).
        """
        from scipy.linalg import solve_triangular

        pls, joint = self.pls, self.joint
        pls.set_theta(theta)
        db = pls.Lambdat_apply(self.u) - self.b              # (Lambda(new) - Lambda(old)) u
        dbeta = np.zeros(self.p) if joint else np.asarray(beta, dtype=np.float64) - self.beta
        s1, s2, xr = self.rows.predict_sums(self.beta, self.b, dbeta, db, self.nb_theta, joint=joint)
        rhs_new = pls.Lambdat_apply(s2, transpose=True)
        pls.set_theta(self._mode_theta)
        rhs = pls.Lambdat_apply(s1 + s2, transpose=True) - rhs_new
        pls.set_theta(theta)
        try:
            c = pls.solve_L(rhs)
            dxr = None
            if joint:
                RZX, RX = pls.RZX, pls.RX
                cb = solve_triangular(RX, xr - RZX.T @ c, trans="T", lower=False)
                dxr = solve_triangular(RX, cb, lower=False)
                c = c - RZX @ dxr
            du = pls._solve(c, "bwd")
        except RuntimeError:
            return None
        if not (np.all(np.isfinite(du)) and (dxr is None or np.all(np.isfinite(dxr)))):
            return None
        beta_p = self.beta - dxr if joint else np.asarray(beta, dtype=np.float64)
        pt = self._point(beta_p, self.u - du, pls.Lambdat_apply(du), dxr)
        return pt if pt.far == 0 else None

    def laplace(self, theta, beta=None, u0=None, predict=False):
        """Laplace deviance at theta (and beta; beta inside PIRLS when joint): aic(y, mu)
        + ||u||^2 + log|L|^2 at the conditional mode, PIRLS from (beta,) u0 (default:
        where it is), or with ``predict``, when the state is a converged mode, from the
        first-order prediction of the new mode (see :meth:`_predicted`; the start given
        is then ignored), as the compiled PIRLS."""
        th = np.array(theta, dtype=np.float64, copy=True)
        if th.shape[0] == 0:
            th = np.zeros(1)
        current = (predict and self.at_mode and (self.joint or beta is not None)
                   and self._mode_nb_theta == self.nb_theta)
        first = None
        if current:
            first = self._predicted(th, self.beta if self.joint else beta)
        if first is None:
            if beta is not None:
                self.beta = np.array(beta, dtype=np.float64, copy=True)
            if u0 is not None:
                self.u = np.array(u0, dtype=np.float64, copy=True)
        self._theta = th
        self.pls.set_theta(th)
        st = self._run(first)
        if st not in (0, 1):
            return np.inf
        return self.aic + self.usq + self.ldL2

    def agq(self, theta, beta, nodes, weights, u0=None, predict=False):
        raise NotImplementedError("nAGQ > 1 is not available for a Dask DataFrame: use nAGQ = 0 or 1")

    @property
    def u_vec(self):
        return np.array(self.u, copy=True)

    @property
    def beta_vec(self):
        return np.array(self.beta, copy=True)

    @property
    def b_vec(self):
        """b = Lambda u at the current state."""
        return np.array(self.b, copy=True)

    # per-row vectors stay on the workers (fitted values and residuals are lazy Series)
    mu_vec = eta_vec = weights_vec = None


def glm_start(rows: PartitionRows, family, init, maxit=50):
    """pymer.glmm's fixed-effects start from passes: the GLM by IRLS from the family's
    starting means (``init``: [X z]'W[X z] there, from the first pass), as
    :func:`pymer.families.glm_start`, or the intercept-only start linkfun(mean y)
    projected on X where that has the lower deviance."""
    nb = float(family.theta or 1.0)

    def at(beta):
        bad, badeta, dev, _, _, _, XztXz, _ = rows.sums(beta, None, nb, joint=True, with_z=False)
        return bad == 0 and badeta == 0, float(dev), XztXz

    def solve(XztXz):
        p = XztXz.shape[0] - 1
        with np.errstate(all="ignore"):
            try:
                return np.linalg.solve(XztXz[:p, :p], XztXz[:p, p])
            except np.linalg.LinAlgError:
                return np.linalg.lstsq(XztXz[:p, :p], XztXz[:p, p], rcond=None)[0]

    candidates = []
    with np.errstate(all="ignore"):
        beta, sums = None, init["XztXz"]
        for _ in range(maxit):
            new = solve(sums)
            if not np.all(np.isfinite(new)):
                break
            ok, _, cand = at(new)
            if beta is None:
                beta, sums = new, cand
                if not ok:
                    break
                continue
            for _ in range(30):
                if ok:
                    break
                new = 0.5 * (new + beta)
                ok, _, cand = at(new)
            else:
                break
            done = np.max(np.abs(new - beta), initial=0.0) < 1e-10 * (1 + np.max(np.abs(beta), initial=0.0))
            beta, sums = new, cand
            if done:
                break
        if beta is not None and np.all(np.isfinite(beta)):
            candidates.append(beta)
        ybar = init["sum_wy"] / init["sum_w"] if init["sum_w"] > 0 else init["mean_y"]
        eta0 = float(np.asarray(family.linkfun(np.asarray([ybar])), dtype=np.float64)[0])
        if np.isfinite(eta0):
            XtX, Xto = init["XtX"], init["Xto"]
            rhs = eta0 * init["Xt1"] - Xto
            proj = np.linalg.lstsq(XtX, rhs, rcond=None)[0]
            candidates.append(proj)
        devs = []
        for c in candidates:
            ok, dev, _ = at(c)
            devs.append(dev if np.isfinite(dev) and np.all(np.isfinite(c)) else np.inf)
    if not devs or not np.isfinite(min(devs)):
        raise PymerDataError(f"no starting values for the fixed effects: the {family.name}({family.link}) GLM "
                             "fit to the response breaks down (check the response's scale and the "
                             "predictors for extreme values)")
    return candidates[int(np.argmin(devs))]
