"""EpisodeSession: live messages → rows on the tick clock, camera health in the metadata."""

from __future__ import annotations

import numpy as np

from abc_robot.recording import EpisodeReader
from abc_robot.recording.layout import TICK_NS
from abc_robot.recording.session import EpisodeSession
from abc_robot.transport.messages import CameraFrame, EEPose, JointCommand, JointState

T0 = 10_000_000_000
CAMS = ("top", "left", "right")


def _image(cam: int, k: int) -> np.ndarray:
    img = np.full((224, 224, 3), 30 + 70 * cam, np.uint8)
    img[(k * 5) % 200 : (k * 5) % 200 + 20] = 255
    return img


def _feed(session: EpisodeSession, t_end_ns: int, top_dies_at_ns: int, source_at, until_ns: int) -> None:
    """Followers at 250 Hz, cameras at 30 Hz (with an offset), in time order."""
    events = []
    for t in range(T0 - 100_000_000, t_end_ns, 4_000_000):
        for a, arm in enumerate(("left", "right")):
            q = np.full(7, t / 1e9 + a)
            events.append((t, f"follower/{arm}/state", JointState(q=q, stamp_ns=t)))
            events.append(
                (
                    t + 500_000,
                    f"follower/{arm}/command",
                    JointCommand(q=q + 0.5, mode="TELEOP", control_source=source_at(t, arm), stamp_ns=t + 500_000),
                )
            )
            events.append((t, f"follower/{arm}/ee", EEPose(T_base_ee=np.eye(4), stamp_ns=t)))
    for c, cam in enumerate(CAMS):
        k = 0
        for t in range(T0 - 100_000_000 + 7_000_000 * c, t_end_ns, TICK_NS):
            if cam == "top" and t >= top_dies_at_ns:
                break
            idx = k + (3 if cam == "left" and k >= 20 else 0)  # left drops 3 frames once
            events.append(
                (t, f"camera/{cam}", CameraFrame(camera=cam, image=_image(c, k), frame_index=idx, stamp_ns=t))
            )
            k += 1
    events.sort(key=lambda e: e[0])
    for i, (t, topic, msg) in enumerate(events):
        session.add(topic, msg)
        if i % 20 == 0:
            session.pump(now_ns=t + 5_000_000, until_ns=until_ns)  # arrivals lag their stamps by ~5 ms


def test_rows_sit_on_the_clock_and_a_dead_camera_is_reported(tmp_path):
    src = lambda t, arm: "intervention" if arm == "right" and t > T0 + 1_000_000_000 else "operator"  # noqa: E731
    s = EpisodeSession(tmp_path, "lift_cube", T0, camera_timeout_ns=300_000_000, max_delay_ns=200_000_000)
    end = T0 + 2_000_000_000
    _feed(s, end + 300_000_000, top_dies_at_ns=T0 + 1_000_000_000, source_at=src, until_ns=end)
    s.pump(now_ns=end + 300_000_000, until_ns=end)
    assert s.done(end)
    path = s.finish("success", progress=1.0)
    ep = EpisodeReader(path)
    n = ep.num_steps
    assert n == 61  # ticks 0..60 at or before the end
    t_k = T0 + np.arange(n) * TICK_NS
    # States are the latest follower sample at or before each tick (followers at 4 ms).
    st = np.array([s["stamps"]["follower/left/state"] for s in ep.steps])
    assert np.all(st <= t_k) and np.all(t_k - st < 4_000_000)
    np.testing.assert_allclose(ep.states[:, 0], st / 1e9)
    cmd = np.array([s["stamps"]["follower/right/command"] for s in ep.steps])
    assert np.all(cmd <= t_k)
    np.testing.assert_allclose(ep.actions[:, 7], (cmd - 500_000) / 1e9 + 1.5)
    for cam in ("left", "right"):
        cs = np.array([s["stamps"][f"camera/{cam}"] for s in ep.steps])
        assert np.all(cs <= t_k) and np.all(t_k - cs < TICK_NS)
    meta = ep.metadata
    health = meta["cameras_health"]
    assert meta["cameras_lost"] == ["top"]
    (lost,) = health["top"]["events"]
    assert lost["event"] == "lost" and 38 <= lost["step"] <= 40  # 300 ms after its last frame
    assert health["top"]["stale_steps"] > 20
    assert health["left"]["dropped_frames"] == 3 and health["right"]["dropped_frames"] == 0
    assert meta["dropped_frames"] == {"top": 0, "left": 3, "right": 0}
    # The dead camera's view keeps its last frame.
    last_top = [s["frame_index"]["top"] for s in ep.steps]
    assert last_top[-1] == last_top[35]
    assert np.abs(ep.view(n - 1, "top").astype(int) - ep.view(35, "top")).mean() < 3.0  # lossy, same picture
    assert meta["late_ticks"] > 0  # ticks after top died waited for the deadline
    sources = ep.control_sources
    assert sources[0] == "operator" and sources[-1] == "intervention"
    assert [seg["source"] for seg in meta["control_source_segments"]] == ["operator", "intervention"]
    assert ep.steps[0]["mode"] == {"left": "TELEOP", "right": "TELEOP"} and len(ep.steps[0]["ee"]["left"]) == 7


def test_tick_zero_takes_the_history_before_the_start(tmp_path):
    hist = {f"follower/{arm}/state": [JointState(q=np.zeros(7), stamp_ns=T0 - 10)] for arm in ("left", "right")}
    s = EpisodeSession(tmp_path, "t", T0, cameras=("top",), history=hist)
    for arm in ("left", "right"):
        s.add(f"follower/{arm}/command", JointCommand(q=np.ones(7), stamp_ns=T0 - 5))
        s.add(f"follower/{arm}/state", JointState(q=np.ones(7), stamp_ns=T0 + 1))  # after the tick: not row 0
    assert s.pump(now_ns=T0 + 1_000_000_000, until_ns=T0) == 1
    ep = EpisodeReader(s.finish("episode_stop"))
    np.testing.assert_array_equal(ep.states[0], np.zeros(14))
    np.testing.assert_array_equal(ep.actions[0], np.ones(14))
    assert ep.metadata["cameras_lost"] == ["top"]  # it never sent a frame
