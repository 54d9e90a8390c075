"""Which motor answers: a Damiao motor's model, as far as its registers tell it.

The Damiao protocol has no model or identity register: in the vendor's register table
``hw_ver`` (13) and ``SN`` (15) are "reserved" and ``sw_ver`` (14) is the firmware's
version. What does identify a model is its gear ratio ``Gr`` (register 20, read-only:
the gearbox is built in; DM3507 7, DM4310 10, DM4340 40, DM6248 48, DM8009 9), and what
makes a motor usable as that model are the ranges every MIT frame is scaled by,
``PMAX`` / ``VMAX`` / ``TMAX`` (21-23, stored by the setup tool). :func:`read_identity`
reads them over CAN; :meth:`MotorIdentity.mismatches` compares them with a model's
table. Variants sharing a gearbox (DM4310 and DM4310_48V) cannot be told apart.
The YAM driver refuses to connect on a mismatch; ``abc-rig check`` reports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from abc_robot.devices.damiao.chain import DamiaoChain
from abc_robot.devices.damiao.protocol import GEAR_RATIO, MOTOR_LIMITS, Register

__all__ = ["MotorIdentity", "read_identity", "model_from_gear_ratio", "IDENTITY_REGISTERS"]

#: The registers read to identify a motor (and the CAN timeout, read at the same time).
IDENTITY_REGISTERS = (Register.GR, Register.PMAX, Register.VMAX, Register.TMAX, Register.TIMEOUT)


@dataclass(frozen=True)
class MotorIdentity:
    """What one motor's registers hold (None: no answer for that register).

    Attributes:
        gear_ratio: ``Gr`` (the model's gearbox).
        p_max / v_max / t_max: the MIT ranges [rad], [rad/s], [N·m] the motor scales by.
        timeout_counts: the CAN timeout register (counts of 50 µs; 0: none).
    """

    gear_ratio: float | None
    p_max: float | None
    v_max: float | None
    t_max: float | None
    timeout_counts: int | None

    @property
    def answered(self) -> bool:
        """True if the motor answered any register read."""
        return any(v is not None for v in (self.gear_ratio, self.p_max, self.v_max, self.t_max, self.timeout_counts))

    def mismatches(self, model: str) -> list[tuple[Register, float | None, float]]:
        """``(register, held, wanted)`` for every register that is not ``model``'s
        (a register that did not answer counts as a mismatch). The gear ratio is only
        compared for models with a known gearbox (:data:`GEAR_RATIO`)."""
        table = MOTOR_LIMITS[model]
        want: dict[Register, float] = {Register.PMAX: table.p_max, Register.VMAX: table.v_max, Register.TMAX: table.t_max}
        gr = GEAR_RATIO.get(model.split("_")[0])
        if gr is not None:
            want = {Register.GR: gr, **want}
        held = {Register.GR: self.gear_ratio, Register.PMAX: self.p_max, Register.VMAX: self.v_max, Register.TMAX: self.t_max}
        return [
            (reg, held[reg], value)
            for reg, value in want.items()
            if held[reg] is None or not math.isclose(float(held[reg]), value, rel_tol=1e-4)  # type: ignore[arg-type]
        ]


def model_from_gear_ratio(gear_ratio: float | None) -> str | None:
    """The model family a gear ratio belongs to (``DM4340``...), or None if unknown."""
    if gear_ratio is None:
        return None
    for model, gr in GEAR_RATIO.items():
        if math.isclose(float(gear_ratio), gr, rel_tol=1e-3):
            return model
    return None


def read_identity(chain: DamiaoChain, i: int, wait_s: float, attempts: int = 3) -> MotorIdentity:
    """Read motor ``i``'s identity registers (each retried ``attempts`` times, ``wait_s`` each).

    Register reads leave the motor's enable state and torque as they are.
    """
    got: dict[Register, float | int | None] = {}
    for reg in IDENTITY_REGISTERS:
        got[reg] = None
        for _ in range(attempts):
            value = chain.register(i, reg, wait_s)
            if value is not None:
                got[reg] = value
                break

    def num(reg: Register) -> float | None:
        v = got[reg]
        return None if v is None else float(v)

    timeout = got[Register.TIMEOUT]
    return MotorIdentity(
        num(Register.GR), num(Register.PMAX), num(Register.VMAX), num(Register.TMAX), None if timeout is None else int(timeout)
    )
