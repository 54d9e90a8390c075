"""The compile ladder: how the fixed-shape sampler is executed.

Rungs, cheapest to build first:

- ``eager``: plain PyTorch.
- ``compile``: ``torch.compile`` on each block (image encoder and every DiT block);
  the sampling loop stays in Python.
- ``fullgraph``: one ``torch.compile(fullgraph=True)`` of the whole sampler (encoder
  and every flow step, guidance included) per sampler mode.
- ``cudagraphs``: the eager sampler captured once per mode into a CUDA graph and
  replayed from static buffers (no per-kernel launch cost). Needs CUDA.
- ``tensorrt``: ``torch.compile(backend="torch_tensorrt")`` of the sampler. Needs CUDA
  and the optional ``torch-tensorrt`` extra (``pip install 'abc_robot[tensorrt]'``).

``best`` builds every available rung, checks its output against eager and keeps the
fastest. A rung that cannot run here is reported with the reason
(:func:`unavailable_reason`) and never silently replaced by another.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from abc_robot.errors import ConfigError
from abc_robot.policy.sampler import FlowSampler

__all__ = [
    "RUNGS",
    "COMPILE_CHOICES",
    "RungUnavailable",
    "Runner",
    "unavailable_reason",
    "build_runner",
    "RungReport",
    "measure",
    "clone_sampler",
]

RUNGS = ("eager", "compile", "fullgraph", "cudagraphs", "tensorrt")
COMPILE_CHOICES = (*RUNGS, "best")

SamplerArgs = tuple[torch.Tensor, ...]  # images, state_n, noise, prefix, weights, gain


class RungUnavailable(Exception):
    """A rung cannot be built on this machine; ``str(exc)`` says why."""


def _is_cuda(device: str | torch.device) -> bool:
    return torch.device(device).type == "cuda"


def unavailable_reason(rung: str, device: str | torch.device = "cpu") -> str | None:
    """Why ``rung`` cannot run on ``device`` here, or None if it can."""
    if rung not in RUNGS:
        raise ConfigError(f"unknown compile rung {rung!r}; choose one of {list(COMPILE_CHOICES)}", field="compile")
    cuda = _is_cuda(device)
    reasons = []
    if rung == "tensorrt" and importlib.util.find_spec("torch_tensorrt") is None:
        reasons.append(
            "torch-tensorrt is not installed (optional extra: pip install 'abc_robot[tensorrt]' on a CUDA machine)"
        )
    if rung in ("cudagraphs", "tensorrt"):
        if not torch.cuda.is_available():
            reasons.append(f"needs CUDA; this torch ({torch.__version__}) sees no CUDA device")
        elif not cuda:
            reasons.append(f"needs the policy on a CUDA device, not {device}")
    if rung in ("compile", "fullgraph", "tensorrt"):
        if not cuda and shutil.which(os.environ.get("CXX", "g++")) is None:
            reasons.append("torch.compile on the CPU needs a C++ compiler (g++) on PATH")
        if cuda and importlib.util.find_spec("triton") is None:
            reasons.append("torch.compile on CUDA needs triton")
    if reasons:
        return "; ".join(reasons)
    return None


class Runner:
    """Executes ``sampler(*args, mode=, beta=)`` on one rung. Call it under ``torch.no_grad()``."""

    #: Largest |difference| from eager (normalized action units) that :func:`measure` accepts;
    #: with ``relative`` it is scaled by max(1, max |eager|) (reduced-precision rungs).
    tolerance: float = 1e-2
    relative: bool = False

    def __init__(self, rung: str, sampler: FlowSampler) -> None:
        self.rung = rung
        self.sampler = sampler

    def __call__(self, args: SamplerArgs, mode: str, beta: float) -> torch.Tensor:
        return self.sampler(*args, mode=mode, beta=beta)


class _PerModeRunner(Runner):
    """Builds one callable per (mode, beta) on first use."""

    def __init__(
        self, rung: str, sampler: FlowSampler, make: Callable[[str, float], Callable[[SamplerArgs], torch.Tensor]]
    ) -> None:
        super().__init__(rung, sampler)
        self._make = make
        self._fns: dict[tuple[str, float], Callable[[SamplerArgs], torch.Tensor]] = {}

    def __call__(self, args: SamplerArgs, mode: str, beta: float) -> torch.Tensor:
        key = (mode, float(beta))
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = self._make(mode, float(beta))
        return fn(args)


def _fullgraph(
    sampler: FlowSampler, backend: str = "inductor"
) -> Callable[[str, float], Callable[[SamplerArgs], torch.Tensor]]:
    def make(mode: str, beta: float) -> Callable[[SamplerArgs], torch.Tensor]:
        def run(*args: torch.Tensor) -> torch.Tensor:
            return sampler(*args, mode=mode, beta=beta)

        compiled = torch.compile(run, fullgraph=True, dynamic=False, backend=backend)
        return lambda args: compiled(*args)

    return make


def _cuda_graph(sampler: FlowSampler) -> Callable[[str, float], Callable[[SamplerArgs], torch.Tensor]]:
    def make(mode: str, beta: float) -> Callable[[SamplerArgs], torch.Tensor]:
        state: dict[str, Any] = {}

        def run(args: SamplerArgs) -> torch.Tensor:
            if "graph" not in state:
                static = [a.clone() for a in args]
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):  # warm-up outside capture, as CUDA graphs require
                    for _ in range(3):
                        sampler(*static, mode=mode, beta=beta)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    out = sampler(*static, mode=mode, beta=beta)
                state.update(graph=graph, static=static, out=out)
            for dst, src in zip(state["static"], args, strict=True):
                dst.copy_(src)
            state["graph"].replay()
            return state["out"].clone()

        return run

    return make


def build_runner(sampler: FlowSampler, rung: str, device: str | torch.device = "cpu") -> Runner:
    """Prepare ``sampler`` for ``rung`` (compilation itself happens on the first call).

    Raises:
        RungUnavailable: the rung cannot run here (the message says why).
    """
    reason = unavailable_reason(rung, device)
    if reason is not None:
        raise RungUnavailable(f"{rung}: {reason}")
    if rung == "eager":
        return Runner(rung, sampler)
    if rung == "compile":
        units = getattr(sampler.model, "compile_units", None)
        for unit in units() if units is not None else [sampler.model.encoder, *sampler.model.blocks]:
            unit.compile(dynamic=False)
        return Runner(rung, sampler)
    if rung == "fullgraph":
        return _PerModeRunner(rung, sampler, _fullgraph(sampler))
    if rung == "cudagraphs":
        # A sampler may prepare itself for capture (ABC-DiT: bf16 weights, compiled velocity network).
        prepare = getattr(sampler, "prepare_cuda_graph", None)
        runner = _PerModeRunner(rung, sampler, _cuda_graph(sampler))
        if prepare is not None:
            runner.tolerance, runner.relative = prepare(), True
        return runner
    import torch_tensorrt  # noqa: F401  (registers the backend)

    return _PerModeRunner(rung, sampler, _fullgraph(sampler, backend="torch_tensorrt"))


@dataclass
class RungReport:
    """What happened to one rung: skipped (with reason) or built, checked and timed."""

    rung: str
    skipped: str | None = None  # reason, when the rung could not be used
    build_s: float = 0.0  # first call (compilation / capture) [s]
    latencies_ms: list[float] = field(default_factory=list)  # measured after warm-up [ms]
    max_abs_err: float = 0.0  # vs eager on the same inputs (normalized action units)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.latencies_ms)) if self.latencies_ms else float("nan")

    def line(self) -> str:
        if self.skipped:
            return f"{self.rung:<10} skipped: {self.skipped}"
        return (
            f"{self.rung:<10} median {self.median_ms:8.2f} ms  p90 {np.percentile(self.latencies_ms, 90):8.2f} ms  "
            f"first call {self.build_s:6.1f} s  |err| {self.max_abs_err:.1e}"
        )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    runner: Runner,
    args: SamplerArgs,
    mode: str = "plain",
    beta: float = 5.0,
    *,
    warmup: int = 3,
    iters: int = 20,
    reference: torch.Tensor | None = None,
    tolerance: float | None = None,
) -> RungReport:
    """Warm ``runner`` up on ``args``, optionally check it against ``reference``, time it.

    Raises:
        RungUnavailable: the rung failed to build or its output differs from the
            reference by more than ``tolerance``.
    """
    device = args[0].device
    rep = RungReport(runner.rung)
    with torch.no_grad():
        t0 = time.perf_counter()
        try:
            out = runner(args, mode, beta)
            _sync(device)
        except Exception as exc:  # a compiler failure makes the rung unavailable, not the worker dead
            raise RungUnavailable(
                f"{runner.rung}: failed to build ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            ) from exc
        rep.build_s = time.perf_counter() - t0
        for _ in range(max(0, warmup - 1)):
            out = runner(args, mode, beta)
        if reference is not None:
            if tolerance is None:
                scale = max(1.0, float(reference.float().abs().max())) if runner.relative else 1.0
                tolerance = runner.tolerance * scale
            rep.max_abs_err = float((out.float() - reference.float()).abs().max())
            if not rep.max_abs_err <= tolerance:
                raise RungUnavailable(
                    f"{runner.rung}: output differs from eager by {rep.max_abs_err:.3g} > {tolerance}"
                )
        for _ in range(iters):
            _sync(device)
            t = time.perf_counter_ns()
            runner(args, mode, beta)
            _sync(device)
            rep.latencies_ms.append((time.perf_counter_ns() - t) / 1e6)
    return rep


def clone_sampler(sampler: FlowSampler) -> FlowSampler:
    """An independent copy (each rung compiles its own modules)."""
    return copy.deepcopy(sampler)
