"""What a YAM arm's connect does before anything moves: each motor's registers checked
(model, MIT ranges, CAN timeout), each joint's turn resolved, the gripper's end stops
measured (when configured). Used by :class:`~abc_robot.devices.damiao.arm.YamArm`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from abc_robot.devices.damiao.chain import DamiaoChain
from abc_robot.devices.damiao.config import YamConfig
from abc_robot.devices.damiao.identity import read_identity
from abc_robot.devices.damiao.protocol import TIMEOUT_S_PER_COUNT, MitCommand, Register, Special
from abc_robot.devices.joint_map import JointMap
from abc_robot.errors import DeviceError

__all__ = ["motor_name", "check_registers", "resolve_turns", "measure_gripper_stops"]

_TWO_PI = 2 * math.pi


def motor_name(i: int) -> str:
    """``joint1`` .. ``joint6``, ``gripper`` for motor index ``i`` (0-6)."""
    return "gripper" if i == 6 else f"joint{i + 1}"


def check_registers(chain: DamiaoChain, c: YamConfig) -> tuple[list[dict[str, Any]], list[str]]:
    """Every motor's model (gear ratio) and stored MIT ranges must be the table's; its CAN
    timeout is set (in RAM) where it has none or a slower one.

    Returns:
        per motor, what was read and written (for ``abc-rig check``), and notes for the
        arm's fault (a CAN timeout that could not be set).

    Raises:
        DeviceError: a motor does not answer, or holds another model's registers (the
            message names the motor, the register and the fix).
    """
    wait = max(c.reply_timeout_s * 5, 0.1)  # an answer comes within 1 ms; this is for a loaded host
    silent: list[int] = []
    wrong: list[tuple[int, Register, float | None, float, str]] = []
    settings: list[dict[str, Any]] = []
    for i, spec in enumerate(c.motor_specs()):
        ident = read_identity(chain, i, wait, c.enable_attempts)
        if not ident.answered:
            silent.append(i)
            continue
        wrong.extend((i, reg, held, value, spec.model) for reg, held, value in ident.mismatches(spec.model))
        entry: dict[str, Any] = {
            "motor": motor_name(i), "can_id": spec.can_id, "model": spec.model,
            "gear_ratio": ident.gear_ratio, "p_max": ident.p_max, "v_max": ident.v_max,
            "t_max": ident.t_max, "timeout_written": False,
        }  # fmt: skip
        counts: float | int | None = ident.timeout_counts
        want_counts = round(c.can_timeout_s / TIMEOUT_S_PER_COUNT)
        if counts is not None and (int(counts) == 0 or int(counts) > want_counts):
            # No failsafe (or a slower one): set ours, in RAM only, so a dead process damps the arm.
            written = chain.register(i, Register.TIMEOUT, wait, want_counts)
            entry["timeout_written"] = written == want_counts
            counts = written if written is not None else counts
        entry["can_timeout_s"] = None if counts is None else int(counts) * TIMEOUT_S_PER_COUNT
        settings.append(entry)
    if silent:
        names = ", ".join(f"{motor_name(i)} (id {c.motor_ids[i]:#x})" for i in silent)
        raise DeviceError(
            f"no answer from {names} on {c.channel}: check motor power, CAN wiring and "
            "termination, and the ids in the config"
        )
    if wrong:
        lines = []
        for i, reg, held, value, model in wrong:
            what = "gear ratio (the motor model)" if reg is Register.GR else reg.name
            lines.append(f"{motor_name(i)} (id {c.motor_ids[i]:#x}) holds {what} {held}, a {model} needs {value}")
        raise DeviceError(
            f"YAM arm on {c.channel} ({c.variant}): " + "; ".join(lines) + ". Every MIT frame is scaled by "
            "these: running would read and command the joints wrongly. Fix: check `variant:`/`motor_models` "
            "match the arm, else write the register with the motor vendor's setup tool (register address "
            "21 PMAX, 22 VMAX, 23 TMAX), save it to flash, and power-cycle the motor."
        )
    notes = [
        f"{e['motor']}: CAN timeout {e['can_timeout_s']} s could not be set"
        for e in settings
        if e["can_timeout_s"] is not None and e["can_timeout_s"] > c.can_timeout_s * 1.001
    ]
    return settings, notes


def resolve_turns(chain: DamiaoChain, jmap: JointMap, lower: np.ndarray, upper: np.ndarray) -> list[str]:
    """Damiao positions are only known modulo 2π at power-up: pick, per joint, the turn
    that puts the joint inside its limits [rad] (moving ``jmap``'s offset by whole turns).

    Returns:
        a note per joint outside its limits on every turn (a wrong offset).
    """
    notes = []
    for i in range(6):
        fb = chain.links[i].feedback
        if fb is None:
            continue
        q = jmap.sign[i] * (fb.p - jmap.off[i])
        if lower[i] - 0.2 <= q <= upper[i] + 0.2:
            continue
        for k in (-2, -1, 1, 2):
            if lower[i] - 0.2 <= q - k * _TWO_PI <= upper[i] + 0.2:
                jmap.off[i] += jmap.sign[i] * k * _TWO_PI
                break
        else:
            notes.append(f"{motor_name(i)} reads {q:.2f} rad, outside its limits on every turn; check offsets")
    return notes


def measure_gripper_stops(chain: DamiaoChain, c: YamConfig, span_rad: float) -> tuple[float, float]:
    """Drive the gripper to each end stop at a capped torque and keep where it stalls.

    Args:
        span_rad: the gripper's travel as configured [rad] (bounds how long each drive may take).

    Returns:
        ``(closed, open)`` motor positions [rad], oriented as the config's (open above
        closed by default).

    Raises:
        DeviceError: no feedback, or a travel under 0.5 rad (blocked).
    """
    wait = c.reply_timeout_s
    kd = c.gripper_probe_torque_nm / c.gripper_probe_speed_rad_s
    chain.special(Special.ENABLE, wait * 3, [6])
    ends = []
    try:
        for direction in (-1.0, 1.0):
            cmd = MitCommand(v=direction * c.gripper_probe_speed_rad_s, kd=kd)
            # Generous: the full travel from a guess that may be far off, on a loaded host.
            t_end = time.monotonic() + 10.0 + 3.0 * abs(span_rad) / c.gripper_probe_speed_rad_s
            still_since = None
            while time.monotonic() < t_end:
                chain.mit([None] * 6 + [cmd], wait)
                fb = chain.links[6].feedback
                if fb is None:
                    continue
                if abs(fb.v) < 0.05 * c.gripper_probe_speed_rad_s:
                    still_since = still_since or time.monotonic()
                    if time.monotonic() - still_since > 0.2:
                        break
                else:
                    still_since = None
                time.sleep(0.002)
            fb = chain.links[6].feedback
            if fb is None:
                raise DeviceError("gripper: no feedback while measuring its end stops")
            ends.append(fb.p)
    finally:
        chain.special(Special.DISABLE, wait * 3, [6])
    lo, hi = min(ends), max(ends)
    if hi - lo < 0.5:
        raise DeviceError(f"gripper travel measured {hi - lo:.2f} rad (stops {lo:.2f}, {hi:.2f}): is it blocked?")
    return (lo, hi) if c.gripper_open_rad >= c.gripper_closed_rad else (hi, lo)
