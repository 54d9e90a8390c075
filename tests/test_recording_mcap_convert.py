"""abc-convert both ways on small synthetic episodes: the round trip, stereo top cameras
(the public per-episode eye rule), H.265, and both metadata variants."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

from abc_robot.cli.convert import main as convert_main
from abc_robot.recording import EpisodeReader, EpisodeWriter
from abc_robot.recording.convert import abc_to_mcap, mcap_to_abc, read_mcap_episode
from abc_robot.recording.layout import TICK_NS
from abc_robot.recording.mcap_recovery import read_complete_records
from abc_robot.recording.mcap_writer import McapEpisodeWriter

N = 40
CAMS = ("top", "left", "right")


def _view(cam: int, k: int, size: int = 224) -> np.ndarray:
    img = np.full((size, size, 3), 30 + 60 * cam, np.uint8)
    x = (5 * k) % (size - 40)
    img[60:120, x : x + 40] = (250, 250 - 6 * k % 200, 40)
    return img


def _row(k: int) -> np.ndarray:
    return np.r_[np.sin(0.1 * k + np.arange(14)), np.cos(0.1 * k + np.arange(14))]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def abc_episode(tmp_path_factory):
    root = tmp_path_factory.mktemp("abc")
    w = EpisodeWriter(root, "stack_cups", CAMS, t0_ns=time.monotonic_ns(), metadata={"arms": ["left", "right"]})
    for k in range(N):
        r = _row(k)
        w.append(r[:14], r[14:], {c: _view(i, k) for i, c in enumerate(CAMS)})
    return w.finish("success")


def test_round_trip_keeps_rows_1_to_n_and_the_frames(abc_episode, tmp_path):
    mcap_dir = abc_to_mcap(abc_episode, tmp_path / "mcap")
    assert mcap_dir.parent.name == "stack_cups" and (mcap_dir / "episode.mcap").is_file()
    back = mcap_to_abc(mcap_dir / "episode.mcap", tmp_path / "back")
    assert back.name == abc_episode.name  # the uuid travels in session-uuid
    orig, conv = EpisodeReader(abc_episode), EpisodeReader(back)
    # The public rule starts one tick after the latest stream start: row 0 is not kept.
    assert conv.num_steps == N - 1
    np.testing.assert_array_equal(conv.rows, orig.rows[1:])
    assert conv.task_name == "stack_cups" and conv.metadata["alignment"] == "fixed_clock_30hz_causal"
    psnr = [_psnr(conv.frame(j), orig.frame(j + 1)) for j in range(conv.num_steps)]
    assert min(psnr) > 30.0, psnr
    orig.close(), conv.close()


def _mcap(root: Path, cams: tuple[str, ...], fmt: str, episode_id: str) -> Path:
    w = McapEpisodeWriter(root, "fold_towel", episode_id=episode_id, cameras=cams, video_format=fmt, offset_ns=0)
    t0 = 10**18
    for k in range(N):
        t = t0 + k * TICK_NS + 1_000_000
        for i, cam in enumerate(cams):
            w.frame(cam, t + i * 1000, _view(i, k, 96 if "top" in cam else 64), k)
        for arm, a in (("left", 0), ("right", 1)):
            for sub in range(3):  # 90 Hz robot streams
                r = _row(3 * k + sub)
                w.joints(arm, "state", t + sub * 11_111_111, r[7 * a : 7 * a + 7])
                w.joints(arm, "action", t + sub * 11_111_111, r[14 + 7 * a : 21 + 7 * a])
    out = w.finish()
    assert out is not None
    return out / "episode.mcap"


def _drop_metadata(path: Path, name: str) -> None:
    from mcap.records import Channel, Message, Metadata, Schema
    from mcap.writer import Writer

    records, why = read_complete_records(path)
    assert why == ""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        w = Writer(f)
        w.start()
        for r in records:
            if isinstance(r, Schema):
                w.register_schema(r.name, r.encoding, r.data)
            elif isinstance(r, Channel):
                w.register_channel(r.topic, r.message_encoding, r.schema_id)
            elif isinstance(r, Message):
                w.add_message(r.channel_id, r.log_time, r.data, r.publish_time, r.sequence)
            elif isinstance(r, Metadata) and r.name != name:
                w.add_metadata(r.name, dict(r.metadata))
        w.finish()
    tmp.replace(path)


@pytest.mark.parametrize("fmt", ["h264", "h265"])
@pytest.mark.parametrize("variant", ["session-metadata", "episode-metadata"])
def test_stereo_top_codecs_and_metadata_variants(tmp_path, fmt, variant):
    uuid = "9f" + hashlib.sha1(f"{fmt}{variant}".encode()).hexdigest()[:30]
    path = _mcap(tmp_path / "mcap", ("top_left", "top_right", "left", "right"), fmt, uuid)
    _drop_metadata(path, "episode-metadata" if variant == "session-metadata" else "session-metadata")
    ep = read_mcap_episode(path)
    assert ep["episode"] == f"episode_{uuid}"
    assert ep["task"] == "fold_towel"
    out = mcap_to_abc(path, tmp_path / "abc")
    conv = EpisodeReader(out)
    assert out.name == f"episode_{uuid}" and conv.cameras == ("top", "left", "right")
    eye = "left" if hashlib.sha1(f"episode_{uuid}".encode()).digest()[0] % 2 == 0 else "right"
    assert conv.metadata["converted_from"]["top_topic"] == f"/top-{eye}-camera"
    # The top view is the chosen eye's picture (its grey level tells the eyes apart).
    level = float(np.median(conv.view(5, "top")[30:50, 100:120]))
    assert abs(level - (30 if eye == "left" else 90)) < 12, level
    # Robot rows: each stream sampled causally at the ticks from one tick after the latest start.
    starts = [10**18 + 1_000_000 + i * 1000 for i in range(4)]
    t0 = max(starts)
    assert conv.t0_ns == t0 + TICK_NS
    tick_times = conv.t0_ns + np.arange(conv.num_steps) * TICK_NS
    robot_t = 10**18 + 1_000_000 + np.array([k * TICK_NS + s * 11_111_111 for k in range(N) for s in range(3)])
    idx = np.searchsorted(robot_t, tick_times, side="right") - 1
    want = np.stack([_row(int(i)) for i in idx])
    np.testing.assert_allclose(conv.states[:, :7], want[:, :7])
    np.testing.assert_allclose(conv.actions[:, 7:], want[:, 21:28])
    conv.close()


def test_cli_converts_what_it_can_and_names_what_it_cannot(abc_episode, tmp_path, capsys):
    assert convert_main(["to-mcap", str(abc_episode.parent), str(tmp_path / "m"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["converted"]) == 1 and res["failed"] == {}
    bad = tmp_path / "m" / "stack_cups" / "episode_broken" / "episode.mcap"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89MCAP0\r\n garbage")
    rc = convert_main(["to-abc", str(tmp_path / "m"), str(tmp_path / "a"), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 1 and len(res["converted"]) == 1
    assert list(res["failed"]) == [str(bad)] and "episode_broken" in res["failed"][str(bad)]
    assert EpisodeReader(res["converted"][0]).num_steps == N - 1
