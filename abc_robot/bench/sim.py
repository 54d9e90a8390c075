"""``abc-bench sim``: physics step, camera render (cheap vs full), sim node loop.

Rows:
- ``sim/step`` [us]: one 500 Hz physics step of the bimanual ``lift_cube`` scene;
  ``sim/step+io`` adds what the sim node does per step (both arms' state read).
- ``sim/render/<camera>/<quality>`` [ms]: one 224×224 image (EGL; Mesa llvmpipe on
  CPUs), ``full`` rows with ``vs`` the ``cheap`` row of the same camera.
- ``sim/node/period_p50`` / ``_p99`` [ms], ``sim/node/overruns`` [count],
  ``sim/node/realtime_factor`` [x]: the sim node's own 500 Hz loop run in this
  process (no subscribers), from its rate-loop statistics.
"""

from __future__ import annotations

import functools
import threading
import time

import numpy as np

from abc_robot.bench.common import Row
from abc_robot.sim.gl import ensure_gl_backend

__all__ = ["run"]


def _time_us(fn, n: int) -> float:
    samples = np.empty(n)
    for i in range(n):
        t = time.perf_counter_ns()
        fn()
        samples[i] = time.perf_counter_ns() - t
    return float(np.median(samples)) / 1e3


def run(quick: bool = False) -> list[Row]:
    ensure_gl_backend()
    from abc_robot.nodes.sim_node import SimNode, SimNodeConfig
    from abc_robot.sim import SimConfig, SimWorld

    rows: list[Row] = []
    w = SimWorld(SimConfig(task="lift_cube"))
    n = 200 if quick else 5000
    rows.append(Row("sim/step", _time_us(w.step, n), "us"))

    def step_io() -> None:
        w.step()
        w.arm_state("left")
        w.arm_state("right")

    rows.append(Row("sim/step+io", _time_us(step_io, n), "us", vs="sim/step"))
    w.close()

    reps = 5 if quick else 50
    for quality in ("cheap", "full"):
        rw = SimWorld(SimConfig(task="lift_cube", render_quality=quality))
        for cam in rw.cameras:
            rw.render(cam)  # GL context and first upload
            ms = _time_us(functools.partial(rw.render, cam), reps) / 1e3
            vs = f"sim/render/{cam}/cheap" if quality == "full" else None
            rows.append(Row(f"sim/render/{cam}/{quality}", ms, "ms", vs=vs))
        rw.close()

    node = SimNode("bench_sim", SimNodeConfig(bind="inproc://bench_sim", control="", sim=SimConfig(task="lift_cube")))
    duration = 1.0 if quick else 5.0
    th = threading.Thread(target=node.run, kwargs={"duration_s": duration})
    th.start()
    th.join(duration + 30.0)
    stats = node.loop.stats()
    rows.append(Row("sim/node/period_p50", float(stats.get("period_p50_ms", 0.0)), "ms"))
    rows.append(Row("sim/node/period_p99", float(stats.get("period_p99_ms", 0.0)), "ms"))
    rows.append(Row("sim/node/overruns", float(stats.get("overruns", 0)), "count"))
    rows.append(Row("sim/node/lag_steps", float(node.lag_steps), "count"))
    rows.append(Row("sim/node/step_cost_p50", float(np.median(node.step_cost_ns[: node.step_calls])) / 1e3, "us"))
    # Physics time over wall time since the loop started (1.0 = real time).
    rows.append(Row("sim/node/realtime_factor", node.world.time_s / duration, "x"))
    return rows


if __name__ == "__main__":  # python -m abc_robot.bench.sim [--quick] [--json]
    import sys

    from abc_robot.bench.common import report

    report("sim", run(quick="--quick" in sys.argv), as_json="--json" in sys.argv)
