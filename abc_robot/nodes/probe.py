"""A tiny node for testing graphs: publishes a counter, can echo, marks its teardown.

Used by the runtime tests and by ``launch/probe.yaml`` (the smallest graph that runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abc_robot.runtime.node import Node
from abc_robot.transport.messages import JointState, ModeCommand

__all__ = ["ProbeNode", "ProbeConfig"]


@dataclass(frozen=True)
class ProbeConfig:
    rate_hz: float = 100.0  # [Hz] loop rate
    bind: str = ""  # publish `probe/<name>` here when set
    listen: str = ""  # latest-subscribe `probe/` here when set (counts what it hears)
    teardown_file: str = ""  # append "<name> <mode>" here at teardown (proves it ran)
    crash_after_s: float = 0.0  # raise in step after this long (0 = never)
    hang_after_s: float = 0.0  # stop heartbeating (block) after this long (0 = never)
    ready_file: str = ""  # append "<name>" here at the first step (the loop runs, signals are handled)
    teardown_s: float = 0.0  # [s] work this long in teardown (a sink finishing its output)
    teardown_heartbeats: bool = True  # heartbeat while doing that work (False: silent)

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError("rate_hz must be positive")


class ProbeNode(Node):
    Config = ProbeConfig

    def setup(self) -> None:
        cfg: ProbeConfig = self.config
        self.pub = self.publisher(cfg.bind) if cfg.bind else None
        self.sub = self.latest(cfg.listen, ["probe/"]) if cfg.listen else None
        self.heard = 0
        self.mode = "RUN"
        self.t0: int | None = None
        self.count = 0

    def step(self, now_ns: int) -> None:
        import time

        cfg: ProbeConfig = self.config
        if self.t0 is None and cfg.ready_file:
            with open(cfg.ready_file, "a") as f:
                f.write(f"{self.name}\n")
        self.t0 = self.t0 or now_ns
        age_s = (now_ns - self.t0) / 1e9
        if cfg.crash_after_s and age_s > cfg.crash_after_s:
            raise RuntimeError("probe crash requested")
        if cfg.hang_after_s and age_s > cfg.hang_after_s:
            time.sleep(3600)
        self.count += 1
        if self.pub is not None:
            self.pub.publish(f"probe/{self.name}", JointState(q=np.array([float(self.count)]), stamp_ns=now_ns))
        if self.sub is not None:
            self.heard += len(self.sub.poll())

    def on_mode_command(self, cmd: ModeCommand) -> None:
        self.mode = cmd.mode

    def status(self) -> dict:
        return {"count": self.count, "heard": self.heard, "mode": self.mode}

    def teardown(self) -> None:
        import time

        cfg: ProbeConfig = self.config
        end = time.monotonic() + cfg.teardown_s
        while time.monotonic() < end:
            time.sleep(0.05)
            if cfg.teardown_heartbeats:
                self._send_heartbeat(final=False)
        if cfg.teardown_file:
            with open(cfg.teardown_file, "a") as f:
                f.write(f"{self.name} {self.mode} {time.monotonic_ns()}\n")
