"""``abc-eval --policies A B --rig R``: the blind protocol on a rig's graph, the operator judging.

Fast tests: the rig's eval graph puts the checkpoints behind the mux (one worker per
alias, the mux on the followers' policy endpoint); the operator's trial loop retries a
trial whose episode was stopped instead of judged and records verdicts under aliases.
Slow test: the real command on abc_yam's hardware twin with two small checkpoints, the
operator's starts and verdicts given on the emulated console board.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from abc_robot.eval.aliasing import assign_aliases, make_rng
from abc_robot.eval.graph import mux_policies
from abc_robot.eval.rig import run_operator_queue
from abc_robot.eval.trials import make_trial_queue
from abc_robot.policy.model import DiTConfig
from abc_robot.rig import load_rig
from abc_robot.rig.graphs import build_graph

from .utils import perturbed_checkpoint

REPO = Path(__file__).resolve().parents[1]
RIG = REPO / "rigs" / "abc_yam"
TINY = DiTConfig(image_size=16, enc_channels=(8,), keypoints=4, width=32, depth=1, heads=2, horizon=16)


def _calibrated_rig(tmp_path: Path):
    """abc_yam with follower calibration files (the shipped rig directory has none yet)."""
    import yaml

    from abc_robot.rig.follower_calibration import FollowerCalibration, save_follower_calibration

    overlay: dict = {"followers": {}}
    for arm in ("left", "right"):
        cal = FollowerCalibration(arm=arm, offsets_rad=(0.0,) * 6, directions=(1.0,) * 6, gripper_open_rad=0.0,
                                  gripper_closed_rad=-2.0, reference_pose="zero")  # fmt: skip
        overlay["followers"][arm] = {
            "calibration": str(save_follower_calibration(cal, tmp_path / f"follower_{arm}.yaml"))
        }
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    return load_rig(RIG, tmp_path / "overlay.yaml")


def test_rig_eval_graph_puts_each_checkpoint_behind_the_mux(tmp_path):
    data = mux_policies(
        build_graph(_calibrated_rig(tmp_path), "eval"), {"A": "/ckpt/one", "B": "/ckpt/two"}, file="abc_yam"
    )
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["policy"]["kind"] == "policy_mux"
    # The followers' policy endpoint is the mux's; each worker binds its own.
    assert nodes["policy"]["params"]["bind"] == nodes["follower_left"]["params"]["policy"] == "ipc://${run}/policy"
    assert (
        nodes["policy_a"]["params"]["checkpoint"] == "/ckpt/one"
        and nodes["policy_b"]["params"]["checkpoint"] == "/ckpt/two"
    )
    assert nodes["policy"]["params"]["workers"] == {"A": "ipc://${run}/policy_a", "B": "ipc://${run}/policy_b"}
    # Every worker sees the rig's three cameras; no node name carries a checkpoint.
    assert nodes["policy_a"]["params"]["cameras"] == [f"ipc://${{run}}/camera_{c}" for c in ("top", "left", "right")]
    assert not [n for n in nodes if "ckpt" in n or "one" in n]
    assert {"leader_left", "leader_right", "follower_left", "follower_right", "console_board", "recorder"} <= set(nodes)


def test_operator_queue_retries_a_stopped_episode_and_records_verdicts_by_alias():
    rng = make_rng(7)
    mapping = assign_aliases(["/x/first", "/x/second"], rng)
    trials = make_trial_queue(mapping.aliases, 2, 1000, rng)
    verdicts = iter(
        [None, SimpleNamespace(outcome="episode_stop", duration_s=1.0), SimpleNamespace(outcome="success", duration_s=2.0)]
        + [SimpleNamespace(outcome="fail", duration_s=3.0)] * 3
    )  # fmt: skip
    selected: list[str | None] = []
    lines: list[str] = []
    records: list = []
    run_operator_queue(trials, selected.append, lambda _t: next(verdicts), lines.append, records, lambda: True)
    assert selected == [t.alias for t in trials] + [None]
    assert [r.success for r in records] == [True, False, False, False]
    assert [r.trial.index for r in records] == [0, 1, 2, 3] and {r.judged_by for r in records} == {"operator"}
    assert any("not judged: start it again" in ln for ln in lines)
    assert not [ln for ln in lines if "/x/" in ln or "first" in ln or "second" in ln]
    # A graph that stops mid-trial leaves that trial unjudged.
    records2: list = []
    run_operator_queue(trials, lambda a: None, lambda _t: None, lines.append, records2, lambda: False)
    assert records2 == []


def _reader(stream, out: queue.Queue[str], keep: list[str]) -> None:
    for line in iter(stream.readline, ""):
        keep.append(line)
        out.put(line)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_abc_eval_on_the_twin_with_operator_verdicts_from_the_console_board(tmp_path, run_dir):
    from abc_robot.testing.twin.graph import CI_SETS
    from abc_robot.testing.twin.rig_twin import RigTwin

    ckpt_a = perturbed_checkpoint(tmp_path / "first_model", TINY, image_size=(48, 48))
    ckpt_b = perturbed_checkpoint(tmp_path / "second_model", TINY, scale=0.2, image_size=(48, 48))
    run = Path(run_dir)
    twin = RigTwin(RIG, run / "twin", task="lift_cube_easy", camera_size=(48, 48), motor_timeout_s=2.0).start()
    proc = None
    try:
        overlay = twin.write_overlay()
        sets = CI_SETS(list(twin.rig.leaders), list(twin.rig.followers)) + [f"recorder.root={tmp_path / 'episodes'}"]
        cmd = [sys.executable, "-m", "abc_robot.cli.eval", "--policies", str(ckpt_a), str(ckpt_b), "--rig", str(RIG),
               "--rig-overlay", str(overlay), "--groups", "1", "--seed", "3", "--task", "lift_cube_easy", "--json",
               "--out", str(tmp_path / "report.json"), "--headless", "--run-dir", str(run / "g"),
               "--heartbeat-timeout", "8", "--no-rt"]  # fmt: skip
        for s in sets:
            cmd += ["--set", s]
        (run / "g").mkdir()
        env = dict(os.environ, PYTHONPATH=str(REPO), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        screen: list[str] = []
        out: list[str] = []
        threading.Thread(target=_reader, args=(proc.stderr, lines, screen), daemon=True).start()
        threading.Thread(target=_reader, args=(proc.stdout, queue.Queue(), out), daemon=True).start()

        def wait_line(text: str, timeout_s: float) -> str:
            t_end = time.monotonic() + timeout_s
            while time.monotonic() < t_end:
                try:
                    line = lines.get(timeout=0.5)
                except queue.Empty:
                    if proc.poll() is not None:
                        break
                    continue
                if text in line:
                    return line
            raise AssertionError(f"no line with {text!r}; screen:\n{''.join(screen)[-3000:]}")

        judged = {}
        for k, verdict in enumerate(("success", "fail")):
            line = wait_line(f"trial {k + 1}/2", 480 if k == 0 else 60)
            alias = line.split("model ")[1].split(":")[0]
            twin.reset_objects(int(line.split("set up scene ")[1].split(",")[0]))
            assert twin.console is not None
            twin.console.press("button_a")  # the operator starts the episode
            time.sleep(0.15)
            twin.console.release("button_a")
            # Button A follows the episode state: after a verdict its next press starts one.
            wait_line("episode started", 30)
            time.sleep(3.0)  # the model drives; the operator watches
            twin.console.press("button_b")
            time.sleep(0.15 if verdict == "success" else 1.5)  # short: success, long: fail
            twin.console.release("button_b")
            wait_line(f"model {alias}: {'success' if verdict == 'success' else 'failure'}", 30)
            judged[alias] = verdict
        assert proc.wait(120) == 0, "".join(screen)[-3000:]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        twin.stop()
    report = json.loads([ln for ln in out if ln.startswith("{")][-1])
    assert report["complete"] and report["judge"] == "operator" and report["rig"] == "abc_yam"
    # Blind: nothing the operator saw before the report names a checkpoint.
    for secret in (str(ckpt_a), str(ckpt_b), "first_model", "second_model"):
        assert secret not in "".join(screen), secret
    # De-anonymized: each verdict given on the board belongs to the model that ran under its alias.
    by_ckpt = {str(Path(m["checkpoint"]).resolve()): m for m in report["results"]}
    path_of = {alias: str(Path(p).resolve()) for alias, p in report["mapping"].items()}
    for alias, verdict in judged.items():
        m = by_ckpt[path_of[alias]]
        assert m["trials"] == 1 and m["successes"] == (1 if verdict == "success" else 0), report
    # Each trial was one recorded episode the policy drove, with the board's verdict.
    eps = sorted((tmp_path / "episodes").rglob("episode_metadata.json"), key=lambda p: p.stat().st_mtime)
    metas = [json.loads(p.read_text()) for p in eps]
    assert [m["outcome"]["ended_by"] for m in metas] == ["success", "fail"], metas
    assert all(m["control_source_counts"].get("policy", 0) > 0 for m in metas), [
        m["control_source_counts"] for m in metas
    ]
