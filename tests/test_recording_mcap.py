"""MCAP episodes in the ABC-130k release layout: a sim episode recorded in both layouts
through ``abc-teleop --sim``, decoded with ``mcap_protobuf``, its video against the
training layout's frames, and converted back to the training layout by the public rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abc_robot.recording import EpisodeReader, iter_episodes
from abc_robot.recording.annexb import AnnexBDecoder, nal_types
from abc_robot.recording.convert import mcap_to_abc, read_mcap_episode
from abc_robot.recording.layout import TICK_NS
from abc_robot.recording.video import letterbox

from .utils import REPO

ROBOT = ("/left-arm-state", "/left-ee-state", "/right-arm-state", "/right-ee-state")
ACTIONS = ("/left-arm-action", "/left-ee-action", "/right-arm-action", "/right-ee-action")
CAMERA_TOPICS = {"top": "/top-camera", "left": "/left-wrist-camera", "right": "/right-wrist-camera"}


def _read(path: Path) -> dict:
    """Every message decoded with mcap_protobuf's decoder factory, as the public script reads them."""
    from mcap.reader import make_reader
    from mcap_protobuf.decoder import DecoderFactory

    out: dict = {"topics": {}, "metadata": {}}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        out["schemas"] = {
            c.topic: reader.get_summary().schemas[c.schema_id].name for c in reader.get_summary().channels.values()
        }
        for m in reader.iter_metadata():
            out["metadata"][m.name] = dict(m.metadata)
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _, channel, message, decoded in reader.iter_decoded_messages():
            out["topics"].setdefault(channel.topic, []).append((message.log_time, decoded))
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcap_sim")
    env = dict(os.environ, PYTHONPATH=str(REPO), MUJOCO_GL="egl", ABC_RUN_DIR=str(tmp / "run"))
    root = tmp / "episodes"
    cmd = [sys.executable, "-m", "abc_robot.cli.teleop", "--sim", "--headless", "--episodes", "1"]
    cmd += ["--episodes-dir", str(root), "--set", "recorder.format=both", "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    eps = list(iter_episodes(root)) if root.is_dir() else []
    log = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "recorder" in ln or "director" in ln]
    tree = sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.is_dir() else []
    assert len(eps) == 1, ("\n".join(log[-30:]), tree)
    (ep,) = eps
    files = sorted((root / "mcap").glob("*/episode_*/episode.mcap"))
    assert len(files) == 1, sorted(str(p) for p in root.rglob("*"))
    data = _read(files[0])
    yield {"ep": ep, "mcap": files[0], "data": data, "tmp": tmp}
    ep.close()


def test_one_episode_two_layouts_same_uuid_and_task_directory(recorded):
    ep, path = recorded["ep"], recorded["mcap"]
    assert path.parent.name == ep.path.name and path.parent.parent.name == "lift_cube"
    md = recorded["data"]["metadata"]
    uuid = ep.path.name.removeprefix("episode_")
    assert md["session-metadata"]["session-uuid"] == uuid
    assert md["episode-metadata"]["session_id"] == uuid and md["episode-metadata"]["task_name"] == "lift_cube"
    assert float(md["episode-metadata"]["duration"]) > 2.0
    assert ep.metadata["alignment"] == "fixed_clock_30hz_causal"
    (instr,) = recorded["data"]["topics"]["/instruction"]
    assert instr[1].text == "lift cube"


def test_topics_schemas_counts_and_rates(recorded):
    d, ep = recorded["data"], recorded["ep"]
    topics, schemas = d["topics"], d["schemas"]
    for cam, topic in CAMERA_TOPICS.items():
        assert schemas[topic] == "foxglove.CompressedVideo" and schemas[topic + "-info"] == "foxglove.CameraCalibration"
        (info,) = topics[topic + "-info"]
        assert (info[1].width, info[1].height) == (224, 224) and len(info[1].K) == 9
        # One message per frame the camera sent, stamped with its exposure, its own counter in order.
        caps = topics[f"/abc/capture/{cam}"]
        assert len(topics[topic]) == len(caps) > 60
        assert [t for t, _ in topics[topic]] == [t for t, _ in caps]
        idx = [c.frame_index for _, c in caps]
        assert idx == sorted(idx) and len(set(idx)) == len(idx)
        # Every frame a training-layout row shows is in the MCAP stream.
        assert {s["frame_index"][cam] for s in ep.steps} <= set(idx)
    for arm_topic, ee_topic in zip(ROBOT + ACTIONS, ROBOT[1:] + ACTIONS[1:], strict=False):
        if "arm" not in arm_topic:
            continue
        assert schemas[arm_topic] == "abc_robot.mcap.JointStream"
        assert len(topics[arm_topic]) == len(topics[arm_topic.replace("arm", "ee")])
        assert {len(m.position) for _, m in topics[arm_topic]} == {6}
        assert {len(m.position) for _, m in topics[arm_topic.replace("arm", "ee")]} == {1}

    # Streams keep their own rates (not resampled to the 30 Hz clock): the followers faster than the cameras.
    def rate(topic: str) -> float:
        t = np.array([t for t, _ in topics[topic]], dtype=np.int64)
        assert np.all(np.diff(t) >= 0), topic
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e9)

    assert min(rate(t) for t in ROBOT + ACTIONS) > 1.5 * max(rate(t) for t in CAMERA_TOPICS.values())
    assert schemas["/abc/left/ee"] == "foxglove.PoseInFrame" and schemas["/abc/events"] == "foxglove.Log"
    assert any("success" in m.message or "fail" in m.message for _, m in topics["/abc/events"])


def test_video_is_annexb_keyframes_with_parameter_sets_and_decodes_to_the_recorded_frames(recorded):
    d, ep = recorded["data"], recorded["ep"]
    psnrs = []
    for cam, topic in CAMERA_TOPICS.items():
        msgs = d["topics"][topic]
        assert {m.format for _, m in msgs} == {"h264"}
        first = nal_types(msgs[0][1].data)
        assert first[:2] == [7, 8] and 5 in first  # SPS, PPS, then an IDR frame
        keys = [i for i, (_, m) in enumerate(msgs) if 5 in nal_types(m.data)]
        assert keys == list(range(0, len(msgs), 30))
        assert all({7, 8} <= set(nal_types(msgs[i][1].data)) for i in keys)
        # The concatenated messages form one stream; one message, one frame.
        dec = AnnexBDecoder("h264")
        frames = [f for _, m in msgs for f in dec.decode(m.data)] + dec.flush()
        assert len(frames) == len(msgs)
        by_index = {c.frame_index: frames[i] for i, (_, c) in enumerate(d["topics"][f"/abc/capture/{cam}"])}
        for k in range(0, ep.num_steps, 7):
            want = ep.view(k, cam).astype(np.float64)
            got = letterbox(by_index[ep.steps[k]["frame_index"][cam]]).astype(np.float64)
            mse = float(np.mean((want - got) ** 2))
            psnrs.append(99.0 if mse == 0 else 10 * np.log10(255**2 / mse))
    print(f"MCAP video vs training-layout frames: PSNR min {min(psnrs):.1f} dB, median {np.median(psnrs):.1f} dB")
    assert min(psnrs) > 30.0


def test_converted_rows_match_the_training_layout_recording_within_one_tick(recorded):
    ep = recorded["ep"]
    out = mcap_to_abc(recorded["mcap"], recorded["tmp"] / "converted")
    conv = EpisodeReader(out)
    offset = json.loads(recorded["data"]["metadata"]["abc-episode"]["json"])["unix_minus_monotonic_ns"]
    assert conv.metadata["alignment"] == "fixed_clock_30hz_causal" and conv.metadata["tick_ns"] == TICK_NS
    assert conv.num_steps >= ep.num_steps - 3 and len(list(conv.frames())) == conv.num_steps
    t_ours = np.array([s["t_ns"] for s in ep.steps], dtype=np.int64)
    cols = {
        "follower/left/state": (slice(0, 7), ("/left-arm-state", "/left-ee-state")),
        "follower/right/state": (slice(7, 14), ("/right-arm-state", "/right-ee-state")),
        "follower/left/command": (slice(14, 21), ("/left-arm-action", "/left-ee-action")),
        "follower/right/command": (slice(21, 28), ("/right-arm-action", "/right-ee-action")),
    }
    exact = 0
    for j, step in enumerate(conv.steps):
        tau = conv.t0_ns + j * TICK_NS - offset  # the converted row's tick on the graph's clock
        k = int(np.searchsorted(t_ours, tau, side="right")) - 1
        assert -1 <= k < ep.num_steps
        for source, (sl, topics) in cols.items():
            picked = step["stamps"][topics[0]] - offset
            assert step["stamps"][topics[1]] - offset == picked
            lo = ep.steps[k]["stamps"][source] if k >= 0 else -(2**62)
            hi = ep.steps[k + 1]["stamps"][source] if k + 1 < ep.num_steps else 2**62
            # Between the samples our rows k and k+1 took: the row is ours within one tick.
            assert lo <= picked <= hi, (j, source)
            for kk, stamp in ((k, lo), (k + 1, hi)):
                if stamp == picked and 0 <= kk < ep.num_steps:
                    np.testing.assert_array_equal(conv.rows[j, sl], ep.rows[kk, sl])
                    exact += 1
    assert exact > conv.num_steps  # most rows coincide exactly with one of ours
    conv.close()


def test_reading_a_file_that_is_not_mcap_names_it(tmp_path):
    from abc_robot.errors import EpisodeError

    bad = tmp_path / "t" / "episode_x" / "episode.mcap"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not an mcap file at all")
    with pytest.raises(EpisodeError, match="episode.mcap"):
        read_mcap_episode(bad)
