"""Calibrate a YAM follower arm (``abc-calibrate follower --rig R --arm left|right``).

1. **Zero offsets**: the operator holds the arm in its reference pose (joint zero of
   ``urdf/yam_follower.urdf``: every joint on its zero mark); each joint motor's
   position there is its offset.
2. **Gripper range**: the operator opens the gripper fully, then closes it.
3. **Signs by a small guided motion**: one joint at a time, that motor alone is enabled
   in MIT mode with a low stiffness (``kp·motion`` stays under ``torque_limit_nm``) and
   asked to move ``motion_rad`` in the joint's positive direction as the current
   directions say; the motion must show at the motor, and the operator confirms that
   the joint turned the positive way (else its direction flips). The joint goes back
   to where it was before its motor is disabled again; the operator supports the arm
   throughout, since the other joints are limp.
4. **Verification**: the arm back in the reference pose must read as joint zero (within
   ``tolerance_rad``) through the new calibration; then the file is written into the rig
   directory and read back.

The motors are reached through the driver's own CAN chain (python-can), so the same
code runs on the rig and on a hardware twin's emulated motors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from abc_robot.devices.damiao.config import YamConfig
from abc_robot.errors import DeviceError
from abc_robot.rig.follower_calibration import FollowerCalibration, load_follower_calibration, save_follower_calibration

__all__ = [
    "FollowerOperator",
    "ImmediateFollowerOperator",
    "ConsoleFollowerOperator",
    "FollowerCalibrationOptions",
    "FollowerCalibrationResult",
    "calibrate_yam_follower",
]


class FollowerOperator(Protocol):
    """The person at the arm (or a script standing in)."""

    def hold(self, step: str, instruction: str) -> None:
        """Wait until the arm is as ``instruction`` says (``step``: ``pose:zero``,
        ``gripper:open``, ``gripper:closed``, ``support``, ``verify``)."""

    def confirm(self, step: str, question: str) -> bool:
        """Answer a yes/no question about what the arm just did (``step``: ``sign:<joint>``)."""


class ImmediateFollowerOperator:
    """Non-interactive (``--yes``): the arm is in place and the directions are trusted."""

    def __init__(self, say: object = print) -> None:
        self.say = say

    def hold(self, step: str, instruction: str) -> None:
        self.say(f"(non-interactive) {instruction}")  # type: ignore[operator]

    def confirm(self, step: str, question: str) -> bool:
        self.say(f"(non-interactive) {question} yes")  # type: ignore[operator]
        return True


class ConsoleFollowerOperator:
    """Asks on the terminal."""

    def hold(self, step: str, instruction: str) -> None:
        input(f"{instruction} — then press Enter ")

    def confirm(self, step: str, question: str) -> bool:
        return input(f"{question} [y/n] ").strip().lower().startswith("y")


@dataclass(frozen=True)
class FollowerCalibrationOptions:
    """Attributes:
    motion_rad: [rad] guided motion of each joint (motor side).
    kp: [N·m/rad] stiffness of the guided motion; kd [N·m·s/rad] its damping.
    torque_limit_nm: [N·m] ``kp · motion_rad`` must stay under this (a low torque limit).
    settle_s: [s] time the joint gets to move.
    min_motion_fraction: the joint must move at least this fraction of ``motion_rad``.
    tolerance_rad: [rad] verification: largest joint error accepted in the reference pose.
    reply_timeout_s: [s] wait for the motors' answers.
    """

    motion_rad: float = 0.1
    kp: float = 8.0
    kd: float = 0.6
    torque_limit_nm: float = 1.5
    settle_s: float = 0.8
    min_motion_fraction: float = 0.3
    tolerance_rad: float = 0.02
    reply_timeout_s: float = 0.05

    def __post_init__(self) -> None:
        if self.kp * self.motion_rad > self.torque_limit_nm:
            raise ValueError(f"kp·motion_rad = {self.kp * self.motion_rad:.2f} N·m exceeds torque_limit_nm")


@dataclass(frozen=True)
class FollowerCalibrationResult:
    """Attributes: calibration (as written), path, moved_rad (motor motion of each joint's
    guided move), flipped (joints whose direction the operator reversed), residual_rad
    (joint angles read back in the reference pose)."""

    calibration: FollowerCalibration
    path: Path
    moved_rad: tuple[float, ...]
    flipped: tuple[int, ...]
    residual_rad: tuple[float, ...]


class _Motors:
    """The arm's motor chain on its own CAN bus (positions by a clear-error exchange,
    which every Damiao motor answers with its feedback, enabled or not)."""

    def __init__(self, cfg: YamConfig, timeout_s: float) -> None:
        import can

        from abc_robot.devices.damiao.chain import DamiaoChain

        self.bus = can.Bus(interface=cfg.interface, channel=cfg.channel, **cfg.bus_options)
        self.chain = DamiaoChain(self.bus, cfg.motor_specs())
        self.timeout_s = timeout_s

    def positions(self) -> np.ndarray:
        from abc_robot.devices.damiao.protocol import Special

        answered = [False] * len(self.chain)
        for _ in range(5):  # frames lost to a busy bus are not missing motors
            got = self.chain.special(Special.CLEAR_ERROR, self.timeout_s, [i for i, a in enumerate(answered) if not a])
            answered = [a or g for a, g in zip(answered, got, strict=True)]
            if all(answered):
                break
        missing = [self.chain.motors[i].can_id for i, a in enumerate(answered) if not a]
        if missing:
            raise DeviceError(
                f"motor(s) {missing} do not answer on {self.bus.channel_info}: check power and CAN wiring"
            )
        return np.array([link.feedback.p for link in self.chain.links if link.feedback is not None])

    def _special(self, cmd: object, i: int, attempts: int = 3) -> bool:
        for _ in range(attempts):  # a frame lost to a busy bus is not a refusal
            if self.chain.special(cmd, self.timeout_s, [i])[i]:  # type: ignore[arg-type]
                return True
        return False

    def guided(self, i: int, targets_rad: list[float], kp: float, kd: float, duration_s: float) -> list[float]:
        """Motor ``i`` alone enabled, pulled towards each target in turn for ``duration_s``
        [s] each; returns its position at the end of each; the motor is disabled after."""
        from abc_robot.devices.damiao.protocol import MitCommand, Special

        if not self._special(Special.ENABLE, i):
            raise DeviceError(f"motor {self.chain.motors[i].can_id} refuses to enable")
        reached = []
        try:
            for target in targets_rad:
                cmds: list[MitCommand | None] = [None] * len(self.chain)
                cmds[i] = MitCommand(p=target, v=0.0, kp=kp, kd=kd, t=0.0)
                deadline = time.monotonic() + duration_s
                while time.monotonic() < deadline:  # the motors' CAN watchdog wants a steady stream
                    self.chain.mit(cmds, self.timeout_s)
                    time.sleep(0.005)
                fb = self.chain.links[i].feedback
                reached.append(float(fb.p) if fb is not None else float("nan"))
        finally:
            self._special(Special.DISABLE, i)
        return reached

    def close(self) -> None:
        self.bus.shutdown()


def calibrate_yam_follower(
    cfg: YamConfig,
    arm: str,
    out: str | Path,
    operator: FollowerOperator,
    *,
    gripper_range_rad: tuple[float, float] | None = None,
    options: FollowerCalibrationOptions | None = None,
) -> FollowerCalibrationResult:
    """Run the procedure of the module docstring and write ``out``.

    Args:
        cfg: the arm's driver config (directions from it are the starting guess).
        arm: ``left`` or ``right``.
        out: the calibration file to write (``rigs/<name>/follower_<arm>.yaml``).
        operator: who holds and confirms.
        gripper_range_rad: (open, closed) gripper motor positions instead of measuring.
        options: motion, stiffness and tolerances.

    Raises:
        DeviceError: a motor missing or refusing, a joint that does not move under the
            guided motion, or a verification that fails; nothing is written then.
    """
    opts = options or FollowerCalibrationOptions()
    motors = _Motors(cfg, opts.reply_timeout_s)
    directions = np.array(cfg.directions, dtype=np.float64)
    try:
        operator.hold("pose:zero", "Hold the arm in its zero pose (every joint on its zero mark), gripper as it is")
        p_zero = motors.positions()
        offsets = p_zero[:6].copy()
        if gripper_range_rad is None:
            operator.hold("gripper:open", "Open the gripper fully and hold it")
            g_open = float(motors.positions()[6])
            operator.hold("gripper:closed", "Close the gripper fully and hold it")
            g_closed = float(motors.positions()[6])
        else:
            g_open, g_closed = gripper_range_rad
        operator.hold(
            "support", f"Support the arm: each joint moves {opts.motion_rad:.2f} rad under low torque, one at a time"
        )
        moved, flipped = [], []
        for j in range(6):
            p0 = float(motors.positions()[j])
            reached = motors.guided(j, [p0 + directions[j] * opts.motion_rad, p0], opts.kp, opts.kd, opts.settle_s)
            dp = reached[0] - p0
            moved.append(dp)
            if abs(dp) < opts.min_motion_fraction * opts.motion_rad or np.sign(dp) != np.sign(directions[j]):
                raise DeviceError(
                    f"joint {j + 1} moved {dp:+.3f} rad when asked {directions[j] * opts.motion_rad:+.3f}: "
                    "blocked, held too firmly, or the motor does not drive it; nothing written"
                )
            if not operator.confirm(f"sign:{j + 1}", f"Did joint {j + 1} turn in its positive direction (the URDF's)?"):
                directions[j] = -directions[j]
                flipped.append(j + 1)
        cal = FollowerCalibration(
            arm=arm,  # type: ignore[arg-type]
            offsets_rad=tuple(float(v) for v in offsets),
            directions=tuple(float(v) for v in directions),
            gripper_open_rad=g_open,
            gripper_closed_rad=g_closed,
            calibrated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        operator.hold("verify", "Put the arm back in its zero pose to verify")
        p_check = motors.positions()
    finally:
        motors.close()
    residual = directions * (p_check[:6] - offsets)
    if np.abs(residual).max() > opts.tolerance_rad:
        raise DeviceError(
            f"verification failed: the zero pose reads {np.round(residual, 4).tolist()} rad through the new "
            f"calibration (tolerance {opts.tolerance_rad} rad); hold the arm still in the pose and run again"
        )
    path = save_follower_calibration(cal, out)
    back = load_follower_calibration(path, arm=arm)
    if back != replace(cal):
        raise DeviceError(f"{path} reads back differently from what was written: {back} != {cal}")
    return FollowerCalibrationResult(cal, path, tuple(moved), tuple(flipped), tuple(float(v) for v in residual))
