"""``abc-bench policy``: latency of one action chunk on each rung of the compile ladder.

The reference DiT flow policy (3 cameras at 224×224, 14-D state, chunk 30, 10 flow
steps; random weights, which cost the same as trained ones) samples one chunk per
call. Rows ``policy/<rung>`` are the median milliseconds per chunk after warm-up, each
``vs`` ``policy/eager`` of the same run; ``policy/eager/rtc_soft`` is the same chunk
with real-time-chunking guidance (one vector-Jacobian product per flow step). Rungs
that cannot run here are left out and their reason printed. On a CUDA machine the
ladder is also measured for a model of 296 M parameters (``policy/large/*``).

``--model abc-dit-small`` (CPU) or ``--model abc-dit-xl`` (CUDA, the released shape):
the same ladder for ABC-DiT with random weights, rows ``abc_dit/<rung>`` ``vs``
``abc_dit/eager`` and ``abc_dit/prefix`` (a chunk with ABC's 4-action prefix conditioning).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

from abc_robot.bench.common import Row

__all__ = ["run", "NOTE", "MODELS"]

NOTE: str | None = None
MODELS = ("abc-dit-small", "abc-dit-xl")


def _reference_policy(model_cfg: object, device: str) -> Any:
    from abc_robot.policy.load import load_policy
    from abc_robot.policy.training import write_untrained_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        write_untrained_checkpoint(tmp, model_cfg)  # type: ignore[arg-type]
        return load_policy(tmp, device=device)


def _ladder(
    prefix: str,
    model_cfg: object,
    device: str,
    rungs: tuple[str, ...],
    iters: int,
    notes: list[str],
    policy: Any = None,
) -> list[Row]:
    import torch

    from abc_robot.policy.compile import RungUnavailable, build_runner, clone_sampler, measure, unavailable_reason
    from abc_robot.policy.interface import Guidance
    from abc_robot.policy.rtc import hard_mask, soft_mask

    policy = policy if policy is not None else _reference_policy(model_cfg, device)
    sampler = policy.sampler
    n = sum(p.numel() for p in sampler.parameters())
    notes.append(
        f"{prefix}: {n / 1e6:.1f} M parameters on {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    noise = sampler.make_noise(torch.Generator(device).manual_seed(1))
    args, _, _ = policy._args(policy.dummy_input(), noise)
    eager = build_runner(sampler, "eager", device)
    with torch.no_grad():
        reference = eager(args, "plain", 0.0)
    base = f"{prefix}/eager"
    runners = {}
    for rung in rungs:
        reason = unavailable_reason(rung, device)
        if reason is not None:
            notes.append(f"{prefix}/{rung} skipped: {reason}")
            continue
        try:
            runner = eager if rung == "eager" else build_runner(clone_sampler(sampler), rung, device)
            rep = measure(runner, args, "plain", 0.0, iters=0, reference=reference)
        except RungUnavailable as exc:
            notes.append(f"{prefix}/{rung} skipped: {exc}")
            continue
        runners[rung] = runner
        if rung != "eager":
            notes.append(
                f"{prefix}/{rung}: first call (compile) {rep.build_s:.1f} s, |err| vs eager {rep.max_abs_err:.1e}"
            )
    # Round-robin timing: load from other processes drifts, and hits every rung alike.
    times: dict[str, list[float]] = {r: [] for r in runners}
    with torch.no_grad():
        for _ in range(iters):
            for rung, runner in runners.items():
                if device == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter_ns()
                runner(args, "plain", 0.0)
                if device == "cuda":
                    torch.cuda.synchronize()
                times[rung].append((time.perf_counter_ns() - t) / 1e6)
    rows = [Row(f"{prefix}/{r}", float(np.median(v)), "ms", None if r == "eager" else base) for r, v in times.items()]
    if rows and rows[0].name == base and prefix == "abc_dit":
        # ABC's own real-time chunking: the first 4 actions given, flow time 0 there.
        d = policy.prefix_steps
        g = Guidance("hard", np.zeros((policy.horizon, policy.action_dim)), hard_mask(d, policy.horizon))
        gargs, mode, beta = policy._args(policy.dummy_input(g), noise)
        rep = measure(eager, gargs, mode, beta, iters=iters)
        rows.append(Row(f"{prefix}/prefix", rep.median_ms, "ms", base))
        notes.append(f"{prefix}/prefix: eager, sampler mode {mode!r}, prefix of {d} actions")
    elif rows and rows[0].name == base:
        g = Guidance("soft", np.zeros((policy.horizon, policy.action_dim)), soft_mask(5, 10, policy.horizon))
        gargs, mode, beta = policy._args(policy.dummy_input(g), noise)
        rep = measure(eager, gargs, mode, beta, iters=iters)
        rows.append(Row(f"{base}/rtc_soft", rep.median_ms, "ms", base))
    return rows


def _abc_dit_rows(model: str, device: str, quick: bool, notes: list[str]) -> list[Row]:
    """ABC-DiT's ladder: ``abc-dit-small`` (CPU-sized) or ``abc-dit-xl`` (the released shape, CUDA)."""
    from abc_robot.policy.abc_dit.policy import abc_dit_bench_policy
    from abc_robot.policy.compile import RUNGS

    if model == "abc-dit-xl" and device != "cuda":
        notes.append(
            "abc-dit-xl: the released shape (2.0 B parameters) is measured on CUDA only; use abc-dit-small here"
        )
        return []
    policy = abc_dit_bench_policy("xl" if model == "abc-dit-xl" else "small", device)
    rungs: tuple[str, ...] = ("eager",) if quick else RUNGS
    if model == "abc-dit-xl" and not quick:
        # One graph of 10 steps × 32 blocks: inductor takes many minutes on it; the CUDA-graph
        # rung (velocity network compiled, the loop captured) is ABC's deployment instead.
        rungs = tuple(r for r in rungs if r != "fullgraph")
        notes.append("abc_dit/fullgraph not measured at the XL shape (compile time); see abc_dit/cudagraphs")
    return _ladder("abc_dit", None, device, rungs, 3 if quick else (20 if device == "cuda" else 10), notes, policy)


def run(quick: bool = False, model: str | None = None) -> list[Row]:
    """Measure the ladder; ``quick`` measures eager only (a few seconds).

    Args:
        quick: eager only, few iterations.
        model: None for the reference policy; ``abc-dit-small`` / ``abc-dit-xl`` for
            ABC-DiT (rows ``abc_dit/<rung>`` and ``abc_dit/prefix``).
    """
    global NOTE
    import torch

    from abc_robot.policy.compile import RUNGS
    from abc_robot.policy.model import DiTConfig

    threads = int(os.environ.get("ABC_BENCH_THREADS", "1"))
    torch.set_num_threads(max(1, threads))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    notes: list[str] = []
    if model is not None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {list(MODELS)}")
        from rich.markup import escape

        rows = _abc_dit_rows(model, device, quick, notes)
        NOTE = escape("\n".join(notes))
        return rows
    rungs = ("eager",) if quick else RUNGS
    if quick:
        notes.append("quick mode: compiled rungs not measured")
    rows = _ladder("policy", DiTConfig(), device, rungs, 5 if quick else 30, notes)
    if device == "cuda" and not quick:
        # 296 M parameters: a mid-size DiT action head, where launch overhead no longer dominates.
        large = DiTConfig(width=1024, depth=15, heads=16, mlp_ratio=4.0, enc_channels=(32, 64, 128, 256))
        rows += _ladder("policy/large", large, device, RUNGS, 20, notes)
    from rich.markup import escape

    NOTE = escape("\n".join(notes))  # abc-bench prints it under the table, through rich
    return rows
