"""Batched Lanczos for the top-k eigenvalues of symmetric PSD operators, with breakdown handling.

One Lanczos process per operator (point), run in lockstep over a batch with full
reorthogonalisation. What makes it safe to use for the effective volume
(:func:`geomlib.numeric.effective_log10_volume`):

- **convergence by residuals**: a Ritz value theta with residual bound ``r = beta_m |s_m|`` (so
  ``|theta - lambda| <= r`` for some eigenvalue lambda) counts as converged when
  ``r <= 1e3 * rtol * theta`` (rigorous), or when ``r <= 1e-5 theta`` and
  ``r^2 / gap <= rtol * theta`` (the standard quadratic estimate; Parlett, *The Symmetric
  Eigenvalue Problem*, 1998, ch. 11);
- **breakdown is not rank**: when the Krylov space becomes invariant (``beta ~ 0``), its Ritz
  values are exact eigenvalues, but only ONE copy of each distinct eigenvalue the start vector
  touches (an identity Jacobian breaks down after one step whatever d is). The process then
  restarts from a fresh random vector orthogonal to everything found so far (deflation:
  the tridiagonal matrix becomes block diagonal), which finds the next copies. Restarting stops when
  the newest block cannot change the top k (its largest value is not above the k-th value found
  before it), when it only sees the numerical null space, or when the whole space is spanned;
- **a spot check for hidden multiplicity**: a single Krylov space sees one copy of a repeated
  eigenvalue even without breakdown (e.g. the same block applied to several identical tokens).
  After the top k have converged, a few more steps from a fresh random vector orthogonal to the
  Krylov space look for an eigenvalue at or above the k-th; if one shows, the point is reported
  as not converged (callers redo it densely). This catches repeated leading eigenvalues cheaply; a
  repeat hidden deep inside a dense spectrum can still be missed (use a dense route for exactness);
- **unsure means not converged**: points that do not converge within the step cap, or whose
  restart blocks do not settle, come back with ``converged = False``.

Arithmetic is float64 whatever the operator's dtype; tolerances (residuals, breakdown, null
space) follow the operator's own precision (``op_dtype``): a float32 operator is accurate to
~1e-6 relative at best, so its default ``rtol`` is ``450 * eps(float32) ~ 5e-5`` instead of 1e-13.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

__all__ = ["lanczos_topk"]

_WORK = torch.float64
_DEBUG = None
# spot check stages (accept below lo, flag at or above hi; the last stage flags at or above lo)
_SPOT_STAGES = ((0.85, 0.985), (0.95, 0.985), (0.97, 0.97))
_SPOT_MIN = 6


def _ritz(alpha: torch.Tensor, beta: torch.Tensor, k: int):
    """Top-k Ritz values (descending) of tridiagonal T (diag alpha [B, m], off-diag beta [B, m-1])
    and the last components of their eigenvectors, shape=[B, k] each, plus the gap of each Ritz
    value to the nearest other one (for the ``res^2 / gap`` error estimate). ``k <= m``."""
    B, m = alpha.shape
    if alpha.device.type == "cpu":  # LAPACK stemr per point: much faster than batched dense eigh on CPU
        import numpy as np
        from scipy.linalg import eigh_tridiagonal

        a, b = alpha.numpy(), beta.numpy()
        th = np.empty((B, k)); last = np.empty((B, k)); gap = np.empty((B, k))
        for i in range(B):
            if m == 1:
                w, v = a[i].copy(), np.ones((1, 1))
            else:
                w, v = eigh_tridiagonal(a[i], b[i], select="i", select_range=(m - k - 1 if m > k else 0, m - 1))
            w, v = w[::-1], v[:, ::-1]
            th[i], last[i] = w[:k], np.abs(v[-1, :k])
            diffs = np.abs(np.diff(w))
            gp = np.full(len(w), np.inf)
            gp[:-1] = diffs
            gp[1:] = np.minimum(gp[1:], diffs)
            gap[i] = gp[:k]
        to = dict(dtype=alpha.dtype)
        return torch.from_numpy(th).to(**to), torch.from_numpy(last).to(**to), torch.from_numpy(gap).to(**to)
    T = torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    ev, S = torch.linalg.eigh(T)
    kk = min(k + 1, m)
    w = ev[:, -kk:].flip(-1)
    last = S[:, -1, -kk:].flip(-1).abs()
    diffs = (w[:, :-1] - w[:, 1:]).abs()
    gp = torch.full_like(w, math.inf)
    gp[:, :-1] = diffs
    gp[:, 1:] = torch.minimum(gp[:, 1:], diffs)
    return w[:, :k], last[:, :k], gp[:, :k]


def _tridiag_eigvals(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """All eigenvalues (descending) of one tridiagonal matrix, alpha [m], beta [m-1]."""
    m = alpha.shape[0]
    T = torch.diag(alpha)
    if m > 1:
        T = T + torch.diag(beta, 1) + torch.diag(beta, -1)
    return torch.linalg.eigvalsh(T).flip(0)


def _topk(vals: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest of ``vals`` (descending), padded with zeros, clamped at 0."""
    out = torch.zeros(k, dtype=vals.dtype, device=vals.device)
    v = vals.sort(descending=True).values[:k].clamp_min(0)
    out[: len(v)] = v
    return out


def _converged(th, res, gap, rtol, tiny):
    thp = th.clamp_min(tiny)
    return (res <= 1e3 * rtol * thp) | ((res <= 1e-5 * thp) & (res * res <= rtol * thp * gap))


def _next_check(th, res, gap, rtol, tiny, m, hist, p) -> int:
    """Steps until the row's next check. A check costs about as much as one or two products per
    point, so the schedule extrapolates the convergence rate instead of checking every step: the
    deficit ``D = max_i log(r_i / (theta_i tau_i))`` (tau_i: the relative residual the test
    needs) falls about linearly in the step count; the next check is at 0.8 of the predicted
    steps (2..20, 10 without a rate yet)."""
    thp = th.clamp_min(tiny)
    tau = torch.clamp(torch.sqrt(rtol * gap / thp), max=1e-5).clamp_min(1e3 * rtol)
    D = float(torch.log(res.clamp_min(tiny) / thp / tau).max())
    prev, hist[p] = hist[p], (m, D)
    if prev is None or prev[1] <= D:
        return 10
    rate = (prev[1] - D) / (m - prev[0])
    return int(min(20, max(2, math.ceil(0.8 * D / rate))))


def lanczos_topk(matvec: Callable, B: int, d: int, k: int, *, dtype=torch.float64, device=None,
                 rtol: float | None = None, max_iter: int | None = None, seed: int = 0,
                 op_dtype: torch.dtype | None = None, precision: torch.dtype | None = None,
                 matvec_rows: Callable | None = None, verify: bool = True):
    """Top-k eigenvalues of B symmetric PSD operators at once (Lanczos, full reorthogonalisation).

    ``matvec``: ``[B, d] -> [B, d]`` (one operator per row). Returns ``(theta, converged)``:
    ``theta`` shape=[B, k] descending eigenvalue estimates (dtype ``dtype``); ``converged``
    shape=[B] bool, False where the estimate is not certain (callers then use a dense route).
    See the module docstring for the convergence test, restarts on breakdown and the spot check
    for hidden multiplicity (``verify``). ``rtol``: relative eigenvalue tolerance, default
    ``450 eps`` of ``precision`` (1e-13 in float64, 5e-5 in float32). ``op_dtype``: the dtype
    ``matvec`` takes (default ``dtype``); ``precision``: the dtype its products are accurate to,
    which sets every tolerance (default ``op_dtype``). ``matvec_rows(v, rows)``, optional: the same product for the operators ``rows``
    only (lets converged points drop out of the batch). Start vectors are deterministic
    (``seed``). Convergence is first checked at step ``k + 30``, then on a schedule extrapolated from the
    convergence rate; at most ``max_iter``
    steps (default ``min(d, max(3k + 60, 200))``, restarts and the spot check included).
    """
    k = min(int(k), d)
    op_dtype = op_dtype or dtype
    eps = torch.finfo(precision or op_dtype).eps
    rtol = 450 * eps if rtol is None else float(rtol)
    m_max = min(d, max_iter or max(3 * k + 60, 200))
    tiny = torch.finfo(_WORK).tiny
    dev = torch.device(device) if device is not None else torch.device("cpu")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    first_check = min(m_max, k + 30)
    brk = 1e3 * eps  # breakdown / null-space level, relative to the largest Rayleigh quotient seen
    flag = 1e-3  # spot check: an eigenvalue within 0.1% of the k-th (or above) counts as found

    def randn(A):
        return torch.randn(A, d, generator=gen, dtype=_WORK).to(dev)

    def mv(v, rows):
        v = v.to(op_dtype)
        if len(rows) == B:
            out = matvec(v)
        elif matvec_rows is not None:
            out = matvec_rows(v, rows)
        else:
            full = torch.zeros(B, d, dtype=op_dtype, device=dev)
            full[rows] = v
            out = matvec(full)[rows]
        return out.to(_WORK)

    theta_out = torch.zeros(B, k, dtype=_WORK, device=dev)
    ok_out = torch.zeros(B, dtype=torch.bool, device=dev)
    # working arrays for the active rows (compacted when rows finish)
    rows = torch.arange(B, device=dev)
    cap = min(m_max + 1, 2 * k + 64)
    Q = torch.zeros(B, cap, d, dtype=_WORK, device=dev)
    q = randn(B)
    Q[:, 0] = q / q.norm(dim=-1, keepdim=True)
    alpha = torch.zeros(B, m_max, dtype=_WORK, device=dev)
    beta = torch.zeros(B, m_max, dtype=_WORK, device=dev)
    scale = torch.zeros(B, dtype=_WORK, device=dev)
    bstart = [0] * B          # start of the live block (after restarts)
    vstart = [-1] * B         # start of the spot-check block (-1: none)
    vsteps = [0] * B          # length of the spot check
    vstage = [0] * B          # its stage (see _SPOT_STAGES)
    main = [None] * B         # top-k estimate under spot check
    found = [[] for _ in range(B)]  # exact eigenvalues of finished (broken-down) blocks
    nextc = [first_check] * B  # step of the row's next convergence check
    hist = [None] * B         # (step, deficit) at the row's previous check, for the schedule
    live = [True] * B         # rows still iterating (finished rows wait for the next compaction)
    live_t = torch.ones(B, dtype=torch.bool, device=dev)
    m = 0

    def fresh(p):
        """A random unit vector orthogonal to Q[p, :m], or None if they span everything."""
        z = randn(1)[0]
        Qp = Q[p, :m]
        for _ in range(2):
            z = z - Qp.T @ (Qp @ z)
        nz = z.norm()
        return None if nz <= 1e-8 else z / nz

    while True:
        A = rows.shape[0]
        j = m
        qj = Q[:, j]
        if all(live):
            w = mv(qj, rows)
        else:  # rows that finished since the last compaction are skipped (zero products)
            lv = torch.tensor([p for p in range(A) if live[p]], device=dev)
            w = torch.zeros_like(qj)
            w[lv] = mv(qj[lv], rows[lv])
        a = (w * qj).sum(-1)
        alpha[:, j] = a
        w = w - a.unsqueeze(-1) * qj
        if j > 0:
            w = w - beta[:, j - 1].unsqueeze(-1) * Q[:, j - 1]
        Qj = Q[:, : j + 1]
        # full reorthogonalisation (classical Gram-Schmidt, repeated only if a row lost more than
        # 30% of its norm: the DGKS "twice is enough" criterion)
        for _ in range(2):
            before = w.norm(dim=-1)
            w = w - torch.bmm(torch.bmm(w.unsqueeze(1), Qj.transpose(1, 2)), Qj).squeeze(1)
            b = w.norm(dim=-1)
            if not bool((b < 0.7 * before).any()):
                break
        m = j + 1
        scale = torch.maximum(scale, a.abs())
        dead = (b <= brk * scale.clamp_min(tiny)) & live_t
        beta[:, j] = torch.where(dead, torch.zeros_like(b), b)
        if m >= cap and m < m_max:  # grow the basis buffer
            newcap = min(m_max + 1, 2 * cap)
            Q2 = torch.zeros(A, newcap, d, dtype=_WORK, device=dev)
            Q2[:, :cap] = Q
            Q, cap = Q2, newcap
        if m < cap:
            Q[:, m] = w / b.clamp_min(tiny).unsqueeze(-1)
            if bool(dead.any()):
                Q[:, m].masked_fill_(dead.unsqueeze(-1), 0.0)
        finished = {}  # position -> (theta [k], ok)

        def finish(p, th, ok):
            finished[p] = (th, ok)

        def start_block(p, spot=False):
            """Continue row p from a fresh vector orthogonal to its basis (beta at the junction 0)."""
            z = fresh(p) if m < min(d, m_max) else None
            if z is None:
                return False
            beta[p, m - 1] = 0.0
            Q[p, m] = z
            bstart[p] = m
            nextc[p] = m + min(k + 30, 10)
            if spot:
                vstart[p] = m
            return True

        exhausted = m >= d
        for p in dead.nonzero().flatten().tolist():  # invariant subspace: exact eigenvalues
            ev = _tridiag_eigvals(alpha[p, bstart[p]:m], beta[p, bstart[p]:m - 1])
            if vstart[p] >= 0:  # the spot-check block is invariant: its values are exact
                th = main[p]
                finish(p, th, not bool(ev[0] >= th[-1] * (1 - flag)))
                continue
            prev = torch.cat(found[p]) if found[p] else ev.new_zeros(0)
            found[p].append(ev)
            U = torch.cat(found[p])
            lam = float(U.max().clamp_min(0))
            t = float(ev[0])
            null = t <= brk * lam or lam == 0.0
            settled = len(prev) >= k and t <= float(_topk(prev, k)[-1]) + brk * lam
            if exhausted or null or settled or not start_block(p):
                finish(p, _topk(U, k), True)
        dead_l = dead.tolist()
        last_step = m >= m_max or exhausted
        todo = [p for p in range(A) if live[p] and p not in finished and not dead_l[p]
                and (m >= (vstart[p] + vsteps[p] if vstart[p] >= 0 else nextc[p]) or last_step)]
        if todo:
            for p in todo:
                bs = bstart[p]
                mb = m - bs
                kk = min(k, mb)
                th, last, gap = _ritz(alpha[p:p + 1, bs:m].cpu() if dev.type == "cpu" else alpha[p:p + 1, bs:m],
                                      beta[p:p + 1, bs:m - 1], kk)
                th, last, gap = th[0].to(dev), last[0].to(dev), gap[0].to(dev)
                res = b[p] * last
                conv = _converged(th, res, gap, rtol, tiny)
                if vstart[p] >= 0:  # spot check finished: anything at or above the k-th value?
                    tm = float(_tridiag_eigvals(alpha[p, :mb], beta[p, :mb - 1])[0])
                    if _DEBUG is not None:
                        _DEBUG.append((float(th[0]), tm, float(main[p][0]), float(main[p][-1]), mb, vstart[p]))
                    r = float(th[0]) / max(tm, tiny)
                    final = vstage[p] == len(_SPOT_STAGES) - 1 or m >= m_max or exhausted
                    lo, hi = _SPOT_STAGES[vstage[p]]
                    if float(th[0]) >= float(main[p][-1]) * (1 - flag) or r >= hi or (final and r >= lo):
                        finish(p, main[p], False)  # an eigenvalue the Krylov space did not see
                    elif r < lo or final:
                        finish(p, main[p], True)
                    else:  # ambiguous: look twice as long (the ratio tends to 1 only for a hidden copy)
                        vstage[p] += 1
                        vsteps[p] *= 2
                elif exhausted:  # the Krylov space is the whole space: T is similar to the operator
                    finish(p, _topk(torch.cat(found[p] + [th]), k), True)
                elif bs == 0:  # no restart so far
                    if bool(conv.all()) and mb >= k:
                        if not verify or m >= min(d, m_max):
                            finish(p, _topk(th, k), True)
                        else:
                            main[p] = _topk(th, k)
                            vsteps[p] = max(_SPOT_MIN, m // 16)
                            if not start_block(p, spot=True):
                                finish(p, main[p], True)
                    elif m >= m_max:
                        finish(p, _topk(th, k), False)
                    else:
                        nextc[p] = m + _next_check(th, res, gap, rtol, tiny, m, hist, p)
                else:  # a restart block is live: settled once its top value is below the k-th found
                    prev = torch.cat(found[p])
                    lam = float(prev.max().clamp_min(0))
                    kth = float(_topk(prev, k)[-1]) if len(prev) >= k else -math.inf
                    if bool(conv[0]) and float(th[0]) <= kth + brk * lam:
                        finish(p, _topk(prev, k), True)
                    elif bool(conv.all()) or m >= m_max:  # it adds to the top k without settling: unsure
                        finish(p, _topk(torch.cat([prev, th]), k), False)
                    else:
                        nextc[p] = m + 5
        if m >= m_max or exhausted:
            for p in range(A):
                if live[p] and p not in finished:
                    th = main[p] if main[p] is not None else _topk(torch.cat(found[p]) if found[p] else
                                                                   alpha.new_zeros(0), k)
                    finish(p, th, main[p] is not None)
        if finished:
            pos = torch.tensor(sorted(finished), device=dev)
            theta_out[rows[pos]] = torch.stack([finished[p][0] for p in sorted(finished)])
            ok_out[rows[pos]] = torch.tensor([finished[p][1] for p in sorted(finished)], device=dev)
            for p in finished:
                live[p] = False
            live_t = torch.tensor(live, device=dev)
            if not any(live):
                break
            if live.count(False) < max(1, A // 4):  # compact (copy the basis) only now and then
                continue
            keep = [p for p in range(A) if live[p]]
            live = [True] * len(keep)
            live_t = torch.ones(len(keep), dtype=torch.bool, device=dev)
            kt = torch.tensor(keep, device=dev)
            rows, Q, alpha, beta, scale, b = rows[kt], Q[kt], alpha[kt], beta[kt], scale[kt], b[kt]
            bstart = [bstart[p] for p in keep]
            vstart = [vstart[p] for p in keep]
            vsteps = [vsteps[p] for p in keep]
            vstage = [vstage[p] for p in keep]
            main = [main[p] for p in keep]
            found = [found[p] for p in keep]
            nextc = [nextc[p] for p in keep]
            hist = [hist[p] for p in keep]
    return theta_out.to(dtype), ok_out
