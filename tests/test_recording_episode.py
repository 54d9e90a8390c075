"""EpisodeWriter / EpisodeReader: the ABC layout written and read back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from abc_robot.errors import EpisodeError
from abc_robot.recording import (
    EpisodeReader,
    EpisodeWriter,
    VideoConfig,
    compute_norm_stats,
    iter_episodes,
    letterbox,
    write_norm_stats,
)
from abc_robot.recording.layout import METADATA, RECORDING_DIR, STATES_ACTIONS, STEP_DATA, TICK_NS, VIDEO

CAMS = ("top", "left", "right")
N = 95  # three full groups of frames and a partial one
T0 = 5_000_000_000


def views_at(k: int) -> dict[str, np.ndarray]:
    """Views whose content identifies the step: a bar that moves with k, per-camera tint."""
    out = {}
    for c, cam in enumerate(CAMS):
        img = np.full((224, 224, 3), 40 + 60 * c, np.uint8)
        y = (k * 2) % 200
        img[y : y + 24, :, c] = 250
        img[:, (k * 3) % 200 : (k * 3) % 200 + 24, (c + 1) % 3] = 10
        out[cam] = img
    return out


def state_at(k: int) -> np.ndarray:
    return np.sin(np.arange(14) + 0.1 * k)


def action_at(k: int) -> np.ndarray:
    return np.cos(np.arange(14) + 0.1 * k)


def source_at(k: int) -> str:
    return "operator" if k < 40 else ("policy" if k < 70 else "intervention")


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes")
    w = EpisodeWriter(root, "lift_cube", CAMS, t0_ns=T0, video=VideoConfig(crf=18), metadata={"rig": "test"})
    for k in range(N):
        w.append(state_at(k), action_at(k), views_at(k), {"control_source": source_at(k), "stamps": {"x": T0 + k}})
    path = w.finish("fail", progress=0.25)
    return root, path


def test_layout_and_rows_are_exact(episode):
    root, path = episode
    assert path.parent == root and path.name.startswith("episode_")
    assert {p.name for p in path.iterdir()} == {STATES_ACTIONS, VIDEO, METADATA, STEP_DATA}
    assert not (root / RECORDING_DIR / path.name).exists()
    raw = np.fromfile(path / STATES_ACTIONS, dtype="<f8")
    assert raw.size == N * 28  # nothing else in the file
    rows = raw.reshape(N, 28)
    for k in (0, 1, 50, N - 1):
        np.testing.assert_array_equal(rows[k, :14], state_at(k))
        np.testing.assert_array_equal(rows[k, 14:], action_at(k))


def test_metadata_has_the_abc_fields_and_ours(episode):
    _, path = episode
    meta = json.loads((path / METADATA).read_text())
    assert meta["task_name"] == "lift_cube"
    assert meta["cameras"] == list(CAMS)
    assert meta["camera_resolutions"] == {c: [224, 224] for c in CAMS}
    assert meta["t0_ns"] == T0 and meta["tick_ns"] == TICK_NS == 33_333_333
    assert meta["num_steps"] == N and meta["alignment"] == "fixed_clock_30hz_causal"
    assert meta["format_version"] == 1 and meta["rig"] == "test"
    assert meta["outcome"] == {"success": False, "progress": 0.25, "ended_by": "fail"}
    assert meta["control_source_segments"] == [
        {"source": "operator", "start": 0, "end": 40},
        {"source": "policy", "start": 40, "end": 70},
        {"source": "intervention", "start": 70, "end": N},
    ]
    assert meta["counts"]["steps"] == N and meta["counts"]["missing_views"] == {c: 0 for c in CAMS}


def test_video_has_a_keyframe_exactly_every_30_frames_and_pts_step_512(episode):
    _, path = episode
    ep = EpisodeReader(path)
    packets = ep.video.packets()
    assert len(packets) == N
    assert [p for p, _ in packets] == [512 * k for k in range(N)]
    assert [k for k, (_, key) in enumerate(packets) if key] == [0, 30, 60, 90]
    assert str(ep.video.time_base) == "1/15360"
    assert (ep.video.width, ep.video.height) == (224, 672)


def test_every_frame_and_step_reads_back(episode):
    _, path = episode
    ep = EpisodeReader(path)
    assert ep.num_steps == N and ep.states.shape == (N, 14) and ep.actions.shape == (N, 14)
    frames = list(ep.frames())
    assert len(frames) == N
    for k, f in enumerate(frames):
        want = np.concatenate([views_at(k)[c] for c in CAMS])
        err = np.abs(f.astype(int) - want).mean()
        assert err < 3.0, (k, err)
        if k:  # the frame is this step's, not its neighbour's
            prev = np.concatenate([views_at(k - 1)[c] for c in CAMS])
            assert err < np.abs(f.astype(int) - prev).mean()
    steps = ep.steps
    assert [s["i"] for s in steps] == list(range(N))
    assert [s["t_ns"] for s in steps] == [T0 + k * TICK_NS for k in range(N)]
    assert [s["control_source"] for s in steps] == [source_at(k) for k in range(N)]


def test_random_access_equals_sequential_decode(episode):
    _, path = episode
    seq = list(EpisodeReader(path).frames())
    ep = EpisodeReader(path)
    rng = np.random.default_rng(3)
    for i in [94, 0, 29, 30, 31, 89, 90, 60, 59, *rng.integers(0, N, 12)]:
        np.testing.assert_array_equal(ep.frame(int(i)), seq[int(i)])
    np.testing.assert_array_equal(ep.view(45, "left"), seq[45][224:448])
    # Reading forward inside a group continues decoding: no seek per frame.
    seeks = ep.video.seeks
    for i in range(61, 75):
        ep.frame(i)
    assert ep.video.seeks <= seeks + 1
    with pytest.raises(IndexError):
        ep.frame(N)
    with pytest.raises(EpisodeError):
        ep.view(0, "wrist")


def test_missing_view_is_black_and_counted_and_sizes_are_letterboxed(tmp_path):
    w = EpisodeWriter(tmp_path, "t", CAMS)
    wide = np.full((120, 320, 3), 200, np.uint8)
    for k in range(3):
        w.append(np.zeros(14), np.zeros(14), {"top": wide, "left": None, "right": views_at(k)["right"]})
    path = w.finish("episode_stop")
    ep = EpisodeReader(path)
    assert ep.metadata["counts"]["missing_views"] == {"top": 0, "left": 3, "right": 0}
    assert ep.metadata["outcome"]["ended_by"] == "episode_stop" and ep.metadata["outcome"]["success"] is None
    assert ep.view(1, "left").mean() < 20
    top = ep.view(1, "top")
    assert top[:30].mean() < 20 and top[100:120].mean() > 150  # padded above and below
    lb = letterbox(wide)
    assert lb.shape == (224, 224, 3) and lb[0].max() == 0 and lb[112].min() > 150


def test_discard_and_empty_episode_leave_nothing(tmp_path):
    w = EpisodeWriter(tmp_path, "t", CAMS)
    w.append(np.zeros(14), np.zeros(14), views_at(0))
    w.discard()
    assert w.finish() is None
    assert EpisodeWriter(tmp_path, "t", CAMS).finish("success") is None
    assert list(iter_episodes(tmp_path)) == []
    assert not (tmp_path / RECORDING_DIR).exists()


def test_bad_rows_are_refused(tmp_path):
    w = EpisodeWriter(tmp_path, "t", CAMS)
    with pytest.raises(ValueError):
        w.append(np.zeros(13), np.zeros(14), views_at(0))
    w.discard()


def test_iter_episodes_and_norm_stats(episode, tmp_path):
    root, path = episode
    eps = list(iter_episodes(root))
    assert [e.path for e in eps] == [path]
    assert [e.path for e in iter_episodes(path)] == [path]
    out = write_norm_stats(root, tmp_path / "norm_stats.json")
    stats = json.loads(out.read_text())
    ns = stats["norm_stats"]
    rows = np.stack([state_at(k) for k in range(N)])
    np.testing.assert_allclose(ns["state"]["mean"], rows.mean(0))
    np.testing.assert_allclose(ns["state"]["std"], rows.std(0))
    acts = np.stack([action_at(k) for k in range(N)])
    np.testing.assert_allclose(ns["actions"]["mean"], acts.mean(0))
    assert stats["num_steps"] == N and set(ns["actions"]) >= {"mean", "std"}
    with pytest.raises(EpisodeError):
        compute_norm_stats(tmp_path)


def test_the_training_loader_reads_recorded_episodes(episode):
    from abc_robot.policy.dataset import load_recorded_episodes

    root, _ = episode
    (ep,) = load_recorded_episodes(root, ["top", "right"], 224, log=lambda s: None)
    assert ep.states.shape == (N, 14) and ep.images.shape == (N, 2, 224, 224, 3)
    assert list(ep.sources[:2]) == ["demo", "demo"] and ep.sources[-1] == "intervention"
    want = views_at(50)["right"]
    assert np.abs(ep.images[50, 1].astype(int) - want).mean() < 3.0


def test_an_unfinished_episode_is_not_readable(tmp_path):
    w = EpisodeWriter(tmp_path, "t", CAMS)
    w.append(np.zeros(14), np.zeros(14), views_at(0))
    with pytest.raises(EpisodeError, match="recover"):
        EpisodeReader(w.path)
    w.discard()
