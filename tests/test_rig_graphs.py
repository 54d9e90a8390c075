"""Launch templates → graphs from a rig; the operator's episode bookkeeping; replay chunks;
udev rules and the discovery of emulated devices."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from abc_robot.cli.rig import main as rig_main
from abc_robot.cli.rig_session import OperatorEpisodes, replay_chunks
from abc_robot.errors import ConfigError
from abc_robot.nodes.registry import NODE_KINDS
from abc_robot.rig import load_rig
from abc_robot.rig.graphs import GRAPHS, build_graph, rig_launch_graph, write_layout
from abc_robot.rig.udev import udev_rules, usb_serial_number
from abc_robot.sim.layout import BimanualLayout

from .utils import REPO

RIG = REPO / "rigs" / "example_mixed"


def _nodes(graph: dict) -> dict[str, dict]:
    return {n["name"]: n for n in graph["nodes"]}


@pytest.mark.parametrize("name", GRAPHS)
def test_every_template_builds_a_valid_graph_of_known_kinds(name):
    rig = load_rig(RIG)
    graph = rig_launch_graph(build_graph(rig, name))
    assert graph.graph == f"{name}_rig:example_mixed"
    assert all(n.kind in NODE_KINDS for n in graph.nodes), [n.kind for n in graph.nodes]
    names = {n.name for n in graph.nodes}
    assert {"follower_left", "follower_right", "console_board"} <= names
    if name != "replay":
        assert {"leader_left", "leader_right", "camera_top", "camera_left", "camera_right", "recorder"} <= names
    assert ("policy" in names) == (name in ("rollout", "eval"))


def test_teleop_graph_carries_the_rig():
    rig = load_rig(RIG)
    nodes = _nodes(build_graph(rig, "teleop"))
    left, right = nodes["follower_left"]["params"], nodes["follower_right"]["params"]
    assert left["backend"]["kind"] == "dynamixel" and left["backend"]["params"]["port"] == "/dev/abc_follower_left"
    assert right["backend"] == {
        "kind": "yam",
        "params": {"interface": "socketcan", "channel": "can0", "control_hz": 250},
    }
    assert (
        left["initial_mode"] == "TELEOP" and left["rate_hz"] == 250.0 and left["leader"] == "ipc://${run}/leader_left"
    )
    assert left["console"] == ["ipc://${run}/console", "ipc://${run}/console_board"]
    lead = nodes["leader_left"]["params"]
    assert lead["calibration"] == str(RIG.resolve() / "left.yaml") and lead["port"].startswith("/dev/serial/by-id/")
    cam = nodes["camera_top"]["params"]
    assert (cam["kind"], cam["params"]["serial"], cam["camera"]) == ("realsense", "000000000001", "top")
    rec = nodes["recorder"]["params"]
    assert rec["rig"] == "example_mixed" and rec["calibration"] == str(RIG.resolve())
    assert rec["cameras"] == {c: f"ipc://${{run}}/camera_{c}" for c in ("top", "left", "right")}
    assert rec["stack"] == ["top", "left", "right"]


def test_rollout_graph_holds_and_feeds_the_policy_every_camera():
    nodes = _nodes(build_graph(load_rig(RIG), "rollout"))
    assert nodes["follower_left"]["params"]["initial_mode"] == "HOLD"
    pol = nodes["policy"]["params"]
    assert pol["cameras"] == [f"ipc://${{run}}/camera_{c}" for c in ("top", "left", "right")]
    assert pol["rig_cameras"] == ["top", "left", "right"]


def test_overrides_layout_and_twin_cameras(tmp_path):
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({
        "cameras": {"top": {"kind": "sim", "params": {"sim": "ipc://x/twin", "rate_hz": 15.0}}},
        "followers": {"left": {"base_xyz_m": [0.1, 0.4, 0.7]}},
    }))  # fmt: skip
    rig = load_rig(RIG, overlay)
    layout = write_layout(rig, tmp_path / "layout.yaml")
    assert np.allclose(BimanualLayout.load(layout).T_world_base("left")[:3, 3], [0.1, 0.4, 0.7])
    graph = build_graph(rig, "teleop", layout=str(layout))
    nodes = _nodes(graph)
    top = nodes["camera_top"]
    assert top["kind"] == "sim_camera" and top["params"]["cameras"] == ["top"] and "serial" not in str(top["params"])
    assert nodes["follower_right"]["params"]["layout"] == str(layout)
    checked = rig_launch_graph(graph, {"follower_left": {"rate_hz": 100.0}})
    assert checked.node("follower_left").params["rate_hz"] == 100.0
    with pytest.raises(ConfigError, match="unknown node"):
        rig_launch_graph(graph, {"follower_middle": {"rate_hz": 1.0}})


def test_unknown_graph_and_group_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="valid"):
        build_graph(load_rig(RIG), "dance")
    tpl = tmp_path / "t.yaml"
    tpl.write_text(yaml.safe_dump({"graph": "x", "groups": ["followers", "lasers"]}))
    with pytest.raises(ConfigError, match="lasers"):
        build_graph(load_rig(RIG), "x", template=tpl)


def test_cli_graph_prints_a_launch_file(capsys):
    assert rig_main(["graph", str(RIG), "replay"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert [n["name"] for n in data["nodes"]] == ["follower_left", "follower_right", "console_board"]


def test_operator_episodes_hand_the_arms_over_and_count_verdicts():
    modes: list[str] = []
    done: list[bool] = []
    ops = OperatorEpisodes([], lambda m: modes.append(m.mode), episodes=2, on_done=lambda: done.append(True))
    for kind in ["success", "episode_start", "intervene_on", "fail", "episode_start", "episode_discard",
                 "episode_start", "success"]:  # fmt: skip
        ops.handle(kind)
    assert modes == ["POLICY", "HOLD", "POLICY", "HOLD", "POLICY", "HOLD"]
    assert [v.outcome for v in ops.verdicts] == ["fail", "discarded", "success"] and done == [True]
    assert ops.summary()["success_rate"] == 0.5


def test_replay_chunks_cover_every_action_on_its_tick():
    actions = np.arange(100 * 14, dtype=np.float64).reshape(100, 14)
    tick, t0 = 33_333_333, 10**12
    chunks = list(replay_chunks(actions, tick, t0, window=30, step=3))
    seen = {}
    for send_ns, chunk in chunks:
        assert chunk.actions.shape[1] == 14 and len(chunk.t_ns) == len(chunk.actions)
        assert send_ns < chunk.t_ns[0]  # sent before its first action is due
        for t, row in zip(chunk.t_ns, chunk.actions):
            seen[int(t)] = row
    assert sorted(seen) == [t0 + k * tick for k in range(100)]
    assert all(np.array_equal(seen[t0 + k * tick], actions[k]) for k in range(100))


def test_udev_rules_name_the_adapters(capsys):
    assert usb_serial_number("/dev/serial/by-id/usb-FTDI_USB__-__Serial_Converter_FT8ISNO8-if00-port0") == "FT8ISNO8"
    assert usb_serial_number("/dev/ttyUSB0") is None
    rules = udev_rules(load_rig(REPO / "rigs" / "abc_yam"))
    assert 'ATTR{latency_timer}="1"' in rules
    assert 'ATTRS{serial}=="SETMELEFT", SYMLINK+="abc_leader_left"' in rules
    assert 'SYMLINK+="abc_console"' in rules
    assert rig_main(["udev", str(RIG)]) == 0
    out, err = capsys.readouterr()
    assert (
        'ATTRS{serial}=="FT8ISNO8"' in out
        and "uses /dev/serial/by-id/" in out
        and "udevadm control --reload-rules" in err
    )


def test_recorder_hashes_every_calibration_file_of_the_overlaid_rig(tmp_path):
    from abc_robot.recording.metadata import file_hashes
    from abc_robot.rig.graphs import write_calibration_dir

    outside = tmp_path / "twin_left.yaml"
    outside.write_bytes((RIG / "left.yaml").read_bytes() + b"# twin\n")
    overlay = tmp_path / "o.yaml"
    overlay.write_text(yaml.safe_dump({"leaders": {"left": {"calibration": str(outside)}}}))
    rig = load_rig(RIG, overlay)
    cal_dir = write_calibration_dir(rig, tmp_path / "cal")
    nodes = _nodes(build_graph(rig, "teleop", calibration_dir=str(cal_dir)))
    hashes = file_hashes(nodes["recorder"]["params"]["calibration"])
    assert set(hashes) == {"rig.yaml", "leader_left.yaml", "right.yaml"}
    assert hashes["leader_left.yaml"] != file_hashes(RIG / "left.yaml")["left.yaml"]
