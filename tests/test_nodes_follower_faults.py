"""A driver that raises mid-command must not end the follower process: it holds,
then starts again from the measured pose."""

from __future__ import annotations

import numpy as np

from abc_robot.devices.backend import ArmBackend, ArmSample
from abc_robot.devices.registry import BACKENDS
from abc_robot.errors import DeviceError
from abc_robot.nodes.follower import FollowerConfig, FollowerNode
from abc_robot.runtime.config import from_dict

HOME = np.array([0.0, 1.3, 1.2, -1.47, 0.0, 0.0, 0.0])


class FlakyArm(ArmBackend):
    """An arm whose writes fail while ``failing`` is set (like a missed torque enable)."""

    def __init__(self) -> None:
        self.q = HOME.copy()
        self.failing = False
        self.sent: list[np.ndarray] = []

    def connect(self) -> None:
        pass

    def read_state(self) -> ArmSample | None:
        import time

        return ArmSample(q=self.q.copy(), stamp_ns=time.monotonic_ns())

    def command(self, q: np.ndarray) -> np.ndarray:
        if self.failing:
            raise DeviceError("servo 3: no status packet (torque enable)")
        self.sent.append(np.array(q))
        return q

    def set_torque(self, enabled: bool) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_raising_driver_makes_the_follower_hold_then_reanchor(run_dir):
    arm = FlakyArm()
    BACKENDS["flaky_test"] = lambda params, ctx: arm
    try:
        cfg = from_dict(FollowerConfig, {"arm": "left", "bind": f"ipc://{run_dir}/f", "initial_mode": "HOLD", "backend": {"kind": "flaky_test"}})
        node = FollowerNode("f", cfg)
        node.setup()
        for k in range(5):
            node.step(k * 4_000_000)
        assert len(arm.sent) == 5 and node.mode == "HOLD"
        arm.failing = True
        for k in range(5, 10):
            node.step(k * 4_000_000)  # must not raise
        assert node.device_errors == 5 and "no status packet" in node.hold_reason
        # Meanwhile the arm was moved: the first command after recovery is where it is now.
        arm.failing = False
        arm.q = HOME + 0.2
        node.step(11 * 4_000_000)
        np.testing.assert_allclose(arm.sent[-1], HOME + 0.2)
        node.teardown()
    finally:
        BACKENDS.pop("flaky_test", None)
