"""rigs/<name>/rig.yaml: the shipped rigs load, mistakes name the file and the field,
an overlay merges onto the rig, follower calibration files replace the driver params."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from abc_robot.devices.damiao.config import YamConfig
from abc_robot.devices.dynamixel.config import DynamixelArmConfig
from abc_robot.errors import ConfigError
from abc_robot.rig import calibration_hashes, camera_config, follower_config, load_rig
from abc_robot.rig.follower_calibration import FollowerCalibration, save_follower_calibration

from .utils import REPO

RIGS = REPO / "rigs"


def _copy_rig(tmp_path: Path, rig_name: str = "example_mixed", /, **changes) -> Path:
    """A copy of a shipped rig with top-level sections replaced."""
    rig = tmp_path / rig_name
    rig.mkdir(parents=True)
    for f in (RIGS / rig_name).iterdir():
        (rig / f.name).write_bytes(f.read_bytes())
    data = yaml.safe_load((rig / "rig.yaml").read_text())
    data.update(changes)
    (rig / "rig.yaml").write_text(yaml.safe_dump(data))
    return rig


def test_shipped_rigs_load():
    mixed = load_rig(RIGS / "example_mixed")
    assert mixed.name == "example_mixed" and mixed.camera_names == ["top", "left", "right"]
    assert isinstance(follower_config(mixed, "left"), DynamixelArmConfig)
    assert isinstance(follower_config(mixed, "right"), YamConfig)
    abc = load_rig(RIGS / "abc_yam" / "rig.yaml")
    assert {s.kind for s in abc.followers.values()} == {"yam"}
    assert {s.kind for s in abc.cameras.values()} == {"realsense"}
    assert camera_config(abc, "top").width == 640 and abc.console is not None
    assert Path(abc.root) == (RIGS / "abc_yam").resolve()


@pytest.mark.parametrize(
    ("section", "value", "field"),
    [
        ("schema", 2, "schema"),
        ("name", "my rig", "name"),
        ("followers", {"left": {"kind": "yam"}}, "followers.right"),
        ("followers", {"left": {"kind": "ur5"}, "right": {"kind": "yam"}}, "followers.left.kind"),
        ("leaders", {"middle": {"port": "/dev/x", "calibration": "m.yaml"}}, "leaders.middle"),
        ("leaders", {"left": {"port": "/dev/x", "calibration": "l.yaml", "baud": 12345}}, "leaders.left.baud"),
        ("cameras", {"front": {"kind": "opencv"}}, "cameras.front"),
        ("rates", {"follower_hz": -1}, "rates.follower_hz"),
    ],
)
def test_bad_values_name_file_and_field(tmp_path, section, value, field):
    rig = _copy_rig(tmp_path, **{section: value})
    with pytest.raises(ConfigError) as exc:
        load_rig(rig)
    assert str(rig / "rig.yaml") in str(exc.value) and field in str(exc.value)


def test_driver_params_are_checked_by_the_driver_config(tmp_path):
    data = yaml.safe_load((RIGS / "abc_yam" / "rig.yaml").read_text())
    data["followers"]["right"]["params"]["chanel"] = "can1"
    rig = _copy_rig(tmp_path, "abc_yam", followers=data["followers"])
    with pytest.raises(ConfigError, match=r"followers\.right\.params\.chanel"):
        load_rig(rig)
    cams = dict(data["cameras"], top={"kind": "realsense", "params": {"serial": "1", "width": 0}})
    rig2 = _copy_rig(tmp_path / "b", "abc_yam", cameras=cams)
    with pytest.raises(ConfigError, match=r"cameras\.top\.params"):
        load_rig(rig2)


def test_overlay_merges_device_addresses(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "leaders": {"left": {"port": "/tmp/ttyLEADER_left", "latency_timer_file": "/tmp/lt"}},
                "followers": {"right": {"params": {"interface": "udp_multicast", "channel": "239.1.2.3"}}},
            }
        )
    )
    rig = load_rig(RIGS / "example_mixed", overlay=overlay)
    assert rig.leaders["left"].port == "/tmp/ttyLEADER_left" and rig.leaders["left"].calibration == "left.yaml"
    assert rig.leaders["right"].port.startswith("/dev/serial/by-id/")
    yam = follower_config(rig, "right")
    assert (yam.interface, yam.channel, yam.control_hz) == ("udp_multicast", "239.1.2.3", 250)
    overlay.write_text(yaml.safe_dump({"followers": {"right": {"params": {"control_hz": "fast"}}}}))
    with pytest.raises(ConfigError) as exc:
        load_rig(RIGS / "example_mixed", overlay=overlay)
    assert "overlay" in str(exc.value) and "followers.right.params.control_hz" in str(exc.value)


def test_follower_calibration_replaces_params_and_hashes_change(tmp_path):
    rig_dir = _copy_rig(tmp_path, "abc_yam")
    rig = load_rig(rig_dir)
    with pytest.raises(ConfigError, match="abc-calibrate follower"):
        follower_config(rig, "left")  # strict: the graph refuses an uncalibrated arm
    before = calibration_hashes(rig)
    cal = FollowerCalibration(
        arm="left", offsets_rad=(0.1, -0.2, 0.0, 0.0, 0.3, 0.0), directions=(1.0, -1.0, 1.0, 1.0, 1.0, -1.0),
        gripper_open_rad=0.0, gripper_closed_rad=-2.5,
    )  # fmt: skip
    save_follower_calibration(cal, rig_dir / "follower_left.yaml")
    yam = follower_config(rig, "left")
    assert yam.offsets_rad == cal.offsets_rad and yam.directions == cal.directions and yam.gripper_closed_rad == -2.5
    after = calibration_hashes(rig)
    assert "follower_left.yaml" in after and "follower_left.yaml" not in before
    assert after["rig.yaml"] == before["rig.yaml"]
    save_follower_calibration(FollowerCalibration(**{**cal.__dict__, "arm": "right"}), rig_dir / "follower_left.yaml")
    with pytest.raises(ConfigError, match="right arm"):
        follower_config(rig, "left")
