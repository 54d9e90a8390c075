"""The recorder node as a process, over real sockets: a camera killed mid-episode, a
recorder killed mid-episode, and a whole recorded sim episode through ``abc-teleop``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from abc_robot.recording import iter_episodes
from abc_robot.recording.layout import RECORDING_DIR, TICK_NS

from .utils import REPO, RecorderGraph, recorder_graph_fixture, spawn_node, wait_for

CAMS = RecorderGraph.CAMS


@pytest.fixture(scope="module")
def graph():
    yield from recorder_graph_fixture(RecorderGraph)


def _camera_ages(ep, cam: str) -> np.ndarray:
    """Per step, how old the camera's view was at the tick [ns] (-1: no frame yet)."""
    t = np.array([s["t_ns"] for s in ep.steps], dtype=np.int64)
    stamps = [s["stamps"][f"camera/{cam}"] for s in ep.steps]
    return np.array([-1 if st is None else tk - st for tk, st in zip(t, stamps, strict=True)], dtype=np.int64)


def _health_matches_the_steps(ep, cam: str) -> dict:
    """The camera's health in the metadata is what its recorded stamps say: lost from the
    first step whose view is older than the recorder's camera timeout (or missing), back
    at the first fresh one, stale steps older than two ticks. Returns the health."""
    timeout_ns = ep.metadata["recorder"]["camera_timeout_ms"] * 1e6
    age = _camera_ages(ep, cam)
    lost = (age < 0) | (age > timeout_ns)
    events, was = [], False
    for k, now in enumerate(lost):
        if now != was:
            events.append(("lost" if now else "back", k))
        was = bool(now)
    health = ep.metadata["cameras_health"][cam]
    assert [(e["event"], e["step"]) for e in health["events"]] == events, cam
    assert health["stale_steps"] == int(np.sum(age > 2 * TICK_NS)), cam
    assert health["missing_steps"] == int(np.sum(age < 0)), cam
    assert (cam in ep.metadata["cameras_lost"]) == bool(events), cam
    return health


def test_a_recorder_killed_mid_episode_recovers_it_at_restart(graph):
    graph.event("episode_start", task="lift_cube", seed=3, source="demo")
    graph.wait_steps(75)
    graph.recorder.send_signal(signal.SIGKILL)
    graph.recorder.wait(10)
    (partial,) = list((Path(graph.root) / RECORDING_DIR).iterdir())
    graph.status.pop("recorder", None)
    graph.recorder = graph.start_recorder()
    assert wait_for(lambda: graph.st("recorder").get("recovered", 0) == 1, 30), graph.st("recorder")
    (ep,) = list(iter_episodes(graph.root))
    assert ep.path.name == partial.name
    assert ep.num_steps >= 60 and ep.num_steps % 30 == 0
    assert ep.metadata["outcome"]["ended_by"] == "recovered" and ep.metadata["recovery"]["lost_steps"] <= 30
    assert ep.metadata["episode_start"] == {"task": "lift_cube", "seed": 3, "source": "demo"}
    assert len(list(ep.frames())) == ep.num_steps and len(ep.steps) == ep.num_steps
    ep.close()
    shutil.rmtree(ep.path)


def test_a_camera_killed_mid_episode_is_reported_and_the_episode_stays_usable(graph):
    assert wait_for(lambda: "recording" in graph.st("recorder"), 30)
    graph.event("episode_start", task="lift_cube", seed=4, source="demo")
    graph.wait_steps(45)
    graph.cameras["left"].send_signal(signal.SIGKILL)
    killed_at = graph.st("recorder")["steps"]

    def aligned() -> int:  # rows on the clock so far, written or waiting to be
        st = graph.st("recorder")
        return st.get("steps", 0) + st.get("queued_rows", 0)

    # The recorder says the camera is lost; then a second of episode more, in which the
    # other cameras publish frames, before it ends.
    assert wait_for(lambda: "left" in graph.st("recorder").get("cameras_lost", []), 60), graph.st("recorder")
    seen_lost = aligned()
    published = {c: graph.st(f"camera_{c}").get("published", 0) for c in ("top", "right")}

    def went_on() -> bool:
        more = all(graph.st(f"camera_{c}").get("published", 0) >= n + 5 for c, n in published.items())
        return more and aligned() >= max(seen_lost + 30, killed_at + 40)

    assert wait_for(went_on, 60), (graph.st("recorder"), published)
    graph.event("success", progress=1.0)
    assert wait_for(lambda: graph.st("recorder").get("episodes", 0) >= 1 and not graph.st("recorder")["recording"], 30)
    (ep,) = list(iter_episodes(graph.root))
    meta = ep.metadata
    n = ep.num_steps
    assert n >= killed_at + 40 and meta["outcome"] == {"success": True, "progress": 1.0, "ended_by": "success"}
    # Judged on the recorded stamps, not on when this test saw what: a busy machine may
    # stall a living camera past the timeout too (then it is lost and back, as recorded).
    health = {cam: _health_matches_the_steps(ep, cam) for cam in CAMS}
    lost = health["left"]["events"][-1]
    assert lost["event"] == "lost" and lost["step"] < n - 30  # lost for good, a second before the end
    left_stamps = [s["stamps"]["camera/left"] for s in ep.steps]
    assert left_stamps[lost["step"] :] == [left_stamps[-1]] * (n - lost["step"])  # no frame after it
    assert health["left"]["stale_steps"] >= n - lost["step"]
    # Usable: every row has its frame, the dead camera's view holds its last frame.
    frames = list(ep.frames())
    assert len(frames) == n and len(ep.steps) == n and not np.isnan(ep.states).any()
    idx = [s["frame_index"]["left"] for s in ep.steps]
    assert idx[-1] == idx[lost["step"]]
    left_last = frames[-1][224:448].astype(int)
    assert np.abs(left_last - frames[lost["step"]][224:448]).mean() < 3.0
    top_idx = [s["frame_index"]["top"] for s in ep.steps]
    assert top_idx[-1] > top_idx[lost["step"]]  # the others kept going
    t = np.array([s["t_ns"] for s in ep.steps])
    assert np.all(np.diff(t) == TICK_NS)


def test_a_recorded_sim_episode_reads_back_frame_for_step(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MUJOCO_GL="egl", ABC_RUN_DIR=str(tmp_path / "run"))
    root = tmp_path / "episodes"
    cmd = [sys.executable, "-m", "abc_robot.cli.teleop", "--sim", "--headless", "--episodes", "1"]
    proc = subprocess.run(
        [*cmd, "--episodes-dir", str(root), "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    log = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "recorder" in ln or "director" in ln]
    eps = list(iter_episodes(root)) if root.is_dir() else []
    tree = sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.is_dir() else []
    assert len(eps) == 1, ("\n".join(log[-30:]), tree, summary.get("episodes"), summary["nodes"].get("recorder"))
    (ep,) = eps
    meta = ep.metadata
    n = ep.num_steps
    assert n > 60 and meta["task_name"] == "lift_cube"
    assert meta["outcome"]["success"] == summary["episodes"][0]["success"]
    # Every step, every frame.
    assert ep.states.shape == (n, 14) and not np.isnan(ep.rows).any()
    assert len(ep.steps) == n and len(list(ep.frames())) == n
    assert [k for k, (_, key) in enumerate(ep.video.packets()) if key] == list(range(0, n, 30))
    # Timestamps: the tick clock is exact, every source's stamps monotonic and causal.
    t = np.array([s["t_ns"] for s in ep.steps])
    assert t[0] == meta["t0_ns"] and np.all(np.diff(t) == TICK_NS)
    for topic in ep.steps[0]["stamps"]:
        got = [s["stamps"][topic] for s in ep.steps]
        # A source with no sample yet at the first ticks (a camera still starting on a
        # busy machine: the episode does not wait for it) has none there, and only there.
        first = next(k for k, st in enumerate(got) if st is not None)
        assert topic.startswith(("camera/", "follower/left/ee", "follower/right/ee")) or first == 0, topic
        stamps = np.array(got[first:], dtype=np.int64)
        assert None not in got[first:] and np.all(np.diff(stamps) >= 0), topic
        assert np.all(stamps <= t[first:]), topic
    for cam in CAMS:
        _health_matches_the_steps(ep, cam)
        age = _camera_ages(ep, cam)
        stamps = t - age
        # Each step shows the newest frame taken at or before its tick: the next
        # frame any later step shows was taken after the tick. So every step's frame
        # lies within one frame period of its tick, the period being the camera's own
        # at that moment (a camera slowed down by a busy machine has longer ones).
        # Except at a tick the recorder wrote before the camera's frames up to it had
        # arrived (a camera process descheduled past max_delay_ms): that step names
        # the camera late, and only such a step may show an older frame.
        nxt = np.full(n, np.iinfo(np.int64).max)
        for k in range(n - 2, -1, -1):
            nxt[k] = stamps[k + 1] if stamps[k + 1] != stamps[k] else nxt[k + 1]
        has_next = (nxt < np.iinfo(np.int64).max) & (age >= 0)
        late = np.array([f"camera/{cam}" in s.get("late", ()) for s in ep.steps])
        newer_missed = has_next & (age >= nxt - stamps)
        assert not np.any(newer_missed & ~late), (cam, np.flatnonzero(newer_missed & ~late))
    # The operator drove it (a watchdog hold while a starved leader is late is "none").
    sources = [seg["source"] for seg in meta["control_source_segments"]]
    assert "operator" in sources and set(sources) <= {"operator", "none"}, sources
    assert summary["nodes"]["recorder"]["status"]["episodes"] == 1


def test_a_recorder_far_behind_at_sigterm_writes_its_whole_episode_heartbeating(graph, tmp_path):
    # A recorder starved of CPU (here: throttled to 3 rows a second) is far behind when the
    # graph stops. Its ordered stop writes the whole backlog, heartbeating meanwhile, so the
    # supervisor waits for it instead of killing it after the stop timeout.
    root = tmp_path / "slow"
    params = {"root": str(root), "camera_timeout_ms": 300.0, "rate_hz": 1.5, "max_rows_per_step": 2}
    slow = spawn_node("recorder", "recorder_slow", params, graph.env)
    try:
        assert wait_for(lambda: "recording" in graph.st("recorder_slow"), 60), graph.st("recorder_slow")
        graph.event("episode_start", task="lift_cube", seed=5, source="demo")
        assert wait_for(lambda: graph.st("recorder_slow").get("steps", 0) >= 3, 30), graph.st("recorder_slow")
        # Let about 90 ticks (3 s) of episode pass: the slow recorder has written only a few.
        t_start = time.monotonic()
        assert not wait_for(lambda: graph.st("recorder_slow").get("steps", 0) >= 60, 3.0)
        graph.event("episode_stop")
        behind = graph.st("recorder_slow").get("steps", 0)
        slow.send_signal(signal.SIGTERM)
        t_term = time.monotonic_ns()
        beats_after = []
        while slow.poll() is None and time.monotonic() - t_start < 120:
            graph.poll()
            st = graph.status.get("recorder_slow", {})
            if st.get("_stamp", 0) > t_term:
                beats_after.append(st["_stamp"])
            time.sleep(0.05)
        assert slow.wait(10) == 0
        (ep,) = list(iter_episodes(root))
        assert ep.num_steps >= 80 > behind + 20, (ep.num_steps, behind)
        assert len(ep.steps) == ep.num_steps and len(list(ep.frames())) == ep.num_steps
        assert ep.metadata["outcome"]["ended_by"] == "episode_stop"
        assert len(set(beats_after)) >= 2  # it said it was alive while it wrote
        ep.close()
    finally:
        if slow.poll() is None:
            slow.kill()
        # The module's own recorder recorded this episode too: leave its root as it was.
        assert wait_for(lambda: graph.st("recorder").get("recording") is False, 30)
        for ep in iter_episodes(graph.root) if Path(graph.root).is_dir() else []:
            ep.close()
            shutil.rmtree(ep.path)
