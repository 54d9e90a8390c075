"""The MuJoCo world as an arm backend: the follower's proxy to the sim process.

The sim node publishes ``sim/<arm>/state`` exactly as a driver reads a real arm and
latest-subscribes ``sim/<arm>/command`` on the follower's own endpoint, so swapping
the sim for hardware is a launch-file change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from abc_robot.devices.backend import ArmBackend, ArmSample
from abc_robot.transport.bus import LatestSubscriber, Publisher
from abc_robot.transport.messages import JointCommand, JointState

__all__ = ["SimBackendConfig", "SimArmBackend"]


@dataclass(frozen=True)
class SimBackendConfig:
    """Attributes:
    endpoint: the sim node's publisher endpoint.
    stale_ms: a state older than this counts as no data [ms].
    """

    endpoint: str = "ipc://${run}/sim"
    stale_ms: float = 100.0

    def __post_init__(self) -> None:
        if self.stale_ms <= 0:
            raise ValueError("stale_ms must be positive")


class SimArmBackend(ArmBackend):
    """Arm ``arm`` of the sim world, reached over the bus.

    Args:
        cfg: endpoint and staleness.
        arm: ``left`` or ``right``.
        publisher: the follower's own publisher (commands go out on it).
    """

    dof = 7

    def __init__(self, cfg: SimBackendConfig, arm: str, publisher: Publisher) -> None:
        self.cfg = cfg
        self.arm = arm
        self.pub = publisher
        self.sub: LatestSubscriber | None = None
        self._torque = False
        self._fault: str | None = "not connected"
        self._topic = f"sim/{arm}/state"

    def connect(self) -> None:
        self.sub = LatestSubscriber(self.cfg.endpoint, [self._topic])
        self._fault = None

    def read_state(self) -> ArmSample | None:
        if self.sub is None:
            return None
        self.sub.poll()
        msg = self.sub.get(self._topic)
        if not isinstance(msg, JointState):
            self._fault = "no state from the sim yet"
            return None
        age_ns = time.monotonic_ns() - msg.stamp_ns
        if age_ns > self.cfg.stale_ms * 1e6:
            self._fault = f"sim state is {age_ns / 1e6:.0f} ms old"
            return None
        self._fault = None
        return ArmSample(q=np.array(msg.q, dtype=float), stamp_ns=msg.stamp_ns, dq=np.array(msg.dq, dtype=float))

    def command(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        self._torque = True
        self.pub.publish(f"sim/{self.arm}/command", JointCommand(q=q, torque=True))
        return q

    def set_torque(self, enabled: bool) -> None:
        self._torque = enabled
        if not enabled:
            self.pub.publish(f"sim/{self.arm}/command", JointCommand(q=np.zeros(0), torque=False))

    def close(self) -> None:
        if self.sub is not None:
            try:
                self.set_torque(False)
            except Exception:
                pass
            self.sub.close()
            self.sub = None

    @property
    def fault(self) -> str | None:
        return self._fault

    @property
    def is_connected(self) -> bool:
        return self.sub is not None
