"""A writer killed mid-episode: recovery keeps every step up to the last whole group of frames."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from abc_robot.errors import EpisodeError
from abc_robot.recording import EpisodeReader, EpisodeWriter, find_incomplete, iter_episodes, recover, recover_all
from abc_robot.recording.layout import GOP, LOCK, RECORDING_DIR, UNRECOVERABLE_DIR

from .test_recording_episode import CAMS, action_at, state_at, views_at
from .utils import spawn_python

WRITER = """
import sys
from abc_robot.recording import EpisodeWriter
from tests.test_recording_episode import CAMS, action_at, state_at, views_at
w = EpisodeWriter(sys.argv[1] if len(sys.argv) > 1 else {root!r}, "lift_cube", CAMS, t0_ns=1000, metadata={{"rig": "test"}})
for k in range(100000):
    w.append(state_at(k), action_at(k), views_at(k), {{"control_source": "operator"}})
    print(k + 1, flush=True)
"""


def _kill_after(root, rows: int) -> int:
    proc = spawn_python(WRITER.format(root=str(root)))
    last = 0
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= rows:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(10)
    assert last >= rows, f"the writer stopped early: {proc.stdout.read() if proc.stdout else ''}"
    return last


def test_sigkilled_writer_is_recovered_up_to_the_last_group_of_frames(tmp_path):
    seen = _kill_after(tmp_path, 80)
    (partial,) = find_incomplete(tmp_path)
    assert partial.parent.name == RECORDING_DIR
    with pytest.raises(EpisodeError):
        EpisodeReader(partial)
    (res,) = recover_all(tmp_path)
    assert res.status == "recovered", res
    n = res.num_steps
    rows_written = n + res.lost_steps
    assert rows_written >= seen
    assert n % GOP == 0 and n >= 60
    assert res.lost_steps <= GOP  # at most the group that was being written
    ep = EpisodeReader(res.path)
    assert ep.num_steps == n and res.path.parent == tmp_path
    meta = ep.metadata
    assert meta["outcome"]["ended_by"] == "recovered" and meta["recovery"]["lost_steps"] == res.lost_steps
    assert meta["task_name"] == "lift_cube" and meta["rig"] == "test" and meta["t0_ns"] == 1000
    np.testing.assert_array_equal(ep.states, np.stack([state_at(k) for k in range(n)]))
    np.testing.assert_array_equal(ep.actions, np.stack([action_at(k) for k in range(n)]))
    assert len(ep.steps) == n and ep.steps[-1]["i"] == n - 1
    frames = list(ep.frames())
    assert len(frames) == n
    for k in (0, n // 2, n - 1):
        want = np.concatenate([views_at(k)[c] for c in CAMS])
        assert np.abs(frames[k].astype(int) - want).mean() < 3.0
        np.testing.assert_array_equal(ep.frame(k), frames[k])
    assert [e.path for e in iter_episodes(tmp_path)] == [res.path]
    assert not (tmp_path / RECORDING_DIR).exists()


def test_killed_before_a_whole_group_is_unrecoverable_and_says_why(tmp_path):
    _kill_after(tmp_path, 5)
    (res,) = recover_all(tmp_path)
    assert res.status == "unrecoverable"
    assert res.path.parent == tmp_path / UNRECOVERABLE_DIR
    why = json.loads((res.path / "recovery.json").read_text())
    assert "group of frames" in why["reason"] and why["rows_written"] >= 5
    assert list(iter_episodes(tmp_path)) == []


def test_a_live_episode_is_left_alone(tmp_path):
    w = EpisodeWriter(tmp_path, "t", CAMS)
    w.append(np.zeros(14), np.zeros(14), views_at(0))
    assert (w.path / LOCK).exists()
    assert find_incomplete(tmp_path) == []
    with pytest.raises(EpisodeError, match="live process"):
        recover(w.path)
    assert recover_all(tmp_path) == []
    w.finish("success")
    assert len(list(iter_episodes(tmp_path))) == 1
