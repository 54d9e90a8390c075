"""A chain of Damiao motors on one CAN bus: send frames, collect the feedback they cause.

Every frame a Damiao motor receives makes it answer with one feedback frame, so a
control cycle is "send one frame per motor, then wait (briefly) until every motor has
answered". :class:`DamiaoChain` does exactly that on any ``python-can`` bus —
SocketCAN on the rig, the virtual bus against the emulator — and keeps, per motor,
the latest feedback, when it arrived and how many cycles in a row it missed, which
is what the arm driver needs to notice a motor that went silent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import can

from abc_robot.devices.damiao.protocol import (
    MOTOR_LIMITS,
    REG_READ,
    REG_WRITE,
    REGISTER_ID,
    Feedback,
    MitCommand,
    MotorLimits,
    Register,
    Special,
    pack_mit,
    parse_feedback,
    parse_register_reply,
    register_frame,
    special_frame,
)
from abc_robot.errors import CodecError

__all__ = ["MotorSpec", "MotorLink", "DamiaoChain"]


@dataclass(frozen=True)
class MotorSpec:
    """Identity of one motor on the bus.

    Attributes:
        can_id: id the motor listens on (1..0x7F; commands go to this id).
        master_id: id the motor answers from (conventionally ``can_id + 0x10``).
        model: Damiao model, a key of :data:`MOTOR_LIMITS` (``DM4340``, ``DM4310``...).
        limits: the motor's P_MAX/V_MAX/T_MAX if they differ from the model's defaults.
    """

    can_id: int
    master_id: int
    model: str = "DM4310"
    limits: MotorLimits | None = None

    def __post_init__(self) -> None:
        if not 0 < self.can_id < 0x800 or not 0 <= self.master_id < 0x800:
            raise ValueError(f"CAN ids must be 11-bit: can_id {self.can_id:#x}, master_id {self.master_id:#x}")
        if self.limits is None and self.model not in MOTOR_LIMITS:
            raise ValueError(f"unknown motor model {self.model!r}; known: {sorted(MOTOR_LIMITS)} (or give limits)")

    @property
    def lim(self) -> MotorLimits:
        return self.limits or MOTOR_LIMITS[self.model]


@dataclass
class MotorLink:
    """What the chain knows about one motor's link (mutable bookkeeping)."""

    feedback: Feedback | None = None
    rx_ns: int = 0  # monotonic time the latest feedback arrived
    missed_cycles: int = 0  # consecutive exchanges without an answer
    replies: int = 0
    misses: int = 0


class DamiaoChain:
    """Damiao motors sharing one ``python-can`` bus.

    Args:
        bus: an open bus (the chain does not own it; the caller shuts it down).
        motors: the motors, in the order the caller indexes them.
    """

    def __init__(self, bus: can.BusABC, motors: Sequence[MotorSpec]) -> None:
        if not motors:
            raise ValueError("a chain needs at least one motor")
        ids = [m.can_id for m in motors]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate CAN ids in {ids}")
        self.bus = bus
        self.motors = tuple(motors)
        self.links = [MotorLink() for _ in motors]
        # Several motors may share a master id; byte 0's low nibble then tells them apart.
        self._by_reply: dict[tuple[int, int], int] = {(m.master_id, m.can_id & 0xF): i for i, m in enumerate(motors)}
        self.send_errors = 0
        self.foreign_frames = 0
        self.bad_frames = 0
        self.last_send_error: str | None = None

    def __len__(self) -> int:
        return len(self.motors)

    # ---- exchanges -----------------------------------------------------------------
    def mit(self, cmds: Sequence[MitCommand | None], timeout_s: float) -> list[bool]:
        """Send one MIT command per motor (None skips a motor) and collect the answers.

        Returns:
            per motor, whether it answered within ``timeout_s`` [s].
        """
        datas = [None if c is None else pack_mit(c, m.lim) for c, m in zip(cmds, self.motors, strict=True)]
        return self.exchange(datas, timeout_s)

    def special(self, cmd: Special, timeout_s: float, which: Sequence[int] | None = None) -> list[bool]:
        """Send a special command (enable, disable, zero, clear error) to ``which`` motors (all by default)."""
        sel = set(range(len(self.motors)) if which is None else which)
        frame = special_frame(cmd)
        return self.exchange([frame if i in sel else None for i in range(len(self.motors))], timeout_s)

    def exchange(self, datas: Sequence[bytes | None], timeout_s: float) -> list[bool]:
        """Send ``datas[i]`` to motor i (None: nothing), then wait for their feedback.

        A motor counts as answered when any feedback from it arrives during the wait
        (frames are not tagged, and a late answer still proves the motor alive).
        Send errors (a full TX queue when nobody acknowledges) are counted, never raised.
        """
        self.drain()
        pending: set[int] = set()
        for i, data in enumerate(datas):
            if data is None:
                continue
            msg = can.Message(arbitration_id=self.motors[i].can_id, data=data, is_extended_id=False)
            try:
                self.bus.send(msg, timeout=0.001)
            except can.CanError as exc:
                self.send_errors += 1
                self.last_send_error = str(exc)
                continue
            pending.add(i)
        answered: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            rx = self.bus.recv(timeout=remaining)
            if rx is None:
                break
            who = self._accept(rx)
            if who is not None:
                pending.discard(who)
                answered.add(who)
        replied = [False] * len(self.motors)
        for i in range(len(self.motors)):
            if i in answered:
                replied[i] = True
                self.links[i].missed_cycles = 0
            elif datas[i] is not None:  # asked (or failed to send): a miss
                self.links[i].missed_cycles += 1
                self.links[i].misses += 1
        return replied

    def register(self, i: int, reg: Register, timeout_s: float, value: float | int | None = None) -> float | int | None:
        """Read (``value`` None) or write (RAM only, never flash) register ``reg`` of motor ``i``.

        Returns:
            the value the motor answered with (after a write: what it now holds), or
            None when it did not answer within ``timeout_s`` [s].
        """
        m = self.motors[i]
        cmd = REG_READ if value is None else REG_WRITE
        data = register_frame(m.can_id, cmd, reg, 0 if value is None else value)
        self.drain()
        try:
            self.bus.send(can.Message(arbitration_id=REGISTER_ID, data=data, is_extended_id=False), timeout=0.001)
        except can.CanError as exc:
            self.send_errors += 1
            self.last_send_error = str(exc)
            return None
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            rx = self.bus.recv(timeout=remaining)
            if rx is None:
                break
            if rx.arbitration_id == m.master_id:
                got = parse_register_reply(bytes(rx.data), m.can_id, reg)
                if got is not None:
                    return got
            self._accept(rx)
        return None

    def drain(self) -> int:
        """Consume frames already waiting (late answers); return how many."""
        n = 0
        while True:
            msg = self.bus.recv(timeout=0.0)
            if msg is None:
                return n
            self._accept(msg)
            n += 1

    def _accept(self, msg: can.Message) -> int | None:
        if msg.is_error_frame or msg.is_remote_frame or len(msg.data) < 1:
            self.bad_frames += msg.is_error_frame
            return None
        i = self._by_reply.get((msg.arbitration_id, msg.data[0] & 0xF))
        if i is None:
            self.foreign_frames += 1
            return None
        try:
            fb = parse_feedback(bytes(msg.data), self.motors[i].lim)
        except CodecError:
            self.bad_frames += 1
            return None
        link = self.links[i]
        link.feedback = fb
        link.rx_ns = time.monotonic_ns()
        link.replies += 1
        return i
