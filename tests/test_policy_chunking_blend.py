"""The chunk executor's start blend: after a reset, the first actions ramp from the
held command into the new chunk (smoothstep), so POLICY starts without a step."""

from __future__ import annotations

import numpy as np

from abc_robot.policy.chunking import ChunkExecutor, ExecutorConfig

MS = 1_000_000


def _chunk(value: float, t0_ns: int, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    return np.full((n, 7), value), t0_ns + np.arange(n, dtype=np.int64) * 20 * MS


def test_start_blend_ramps_from_the_held_command_then_follows_the_chunk() -> None:
    ex = ChunkExecutor(ExecutorConfig(start_blend_s=0.1))
    acts, t = _chunk(1.0, 0)
    ex.add(acts, t, obs_stamp_ns=0, arrival_ns=0)
    held = np.zeros(7)
    out = [ex.sample(k * 10 * MS, start_from=held) for k in range(12)]
    assert out[0] is not None and np.allclose(out[0], 0.0)  # first action = the held command
    vals = [float(o[0]) for o in out if o is not None]
    assert all(b >= a for a, b in zip(vals, vals[1:], strict=False)) and vals[5] == 0.5
    assert np.allclose(out[10], 1.0) and np.allclose(out[11], 1.0)
    # Only a reset arms the blend again; a later start_from changes nothing.
    assert np.allclose(ex.sample(130 * MS, start_from=held), 1.0)
    ex.reset()
    ex.add(*_chunk(2.0, 200 * MS), obs_stamp_ns=200 * MS, arrival_ns=200 * MS)
    assert np.allclose(ex.sample(200 * MS, start_from=np.ones(7)), 1.0)


def test_no_blend_by_default_or_without_a_start() -> None:
    ex = ChunkExecutor()
    ex.add(*_chunk(1.0, 0), obs_stamp_ns=0, arrival_ns=0)
    assert np.allclose(ex.sample(0, start_from=np.zeros(7)), 1.0)
    ex2 = ChunkExecutor(ExecutorConfig(start_blend_s=0.1))
    ex2.add(*_chunk(1.0, 0), obs_stamp_ns=0, arrival_ns=0)
    assert np.allclose(ex2.sample(0), 1.0)
    assert ex2.sample(0) is not None and ChunkExecutor(ExecutorConfig(start_blend_s=0.1)).sample(0) is None
