"""A chain of Damiao motors on a python-can bus (the virtual bus in tests).

Each emulated motor speaks the real frames (:mod:`abc_robot.devices.damiao.protocol`):
it answers every frame addressed to it with a feedback frame from its master id,
obeys enable / disable / clear-error / save-zero, and, while enabled, applies the MIT
law ``tau = kp (p* - q) + kd (v* - dq) + t*`` (clipped to ±T_MAX) to a simple joint
(inertia, viscous friction, optional constant load). Like the firmware, a motor that
receives no frame for ``timeout_s`` (0.4 s on the rig) latches the LOST_COMM state and
only damps (``tau = -timeout_kd · dq``) until its error is cleared and it is enabled
again; a disabled or faulted motor ignores MIT commands.

Fault injection: :meth:`silence` (the motor neither hears nor answers: a broken
CAN link), :meth:`set_error` (e.g. over-temperature), :meth:`push` (an external
torque, a hand on the arm).

The driver under test uses ``can.Bus(interface="virtual", channel=...)`` on the
same channel: only the bus interface differs from the rig.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import can
import numpy as np

from abc_robot.devices.damiao.chain import MotorSpec
from abc_robot.devices.damiao.protocol import (
    Feedback,
    MitCommand,
    MotorState,
    Special,
    pack_feedback,
    parse_special,
    unpack_mit,
)

__all__ = ["MotorPhysics", "EmulatedMotor", "DamiaoChainEmulator"]


@dataclass(frozen=True)
class MotorPhysics:
    """The joint behind an emulated motor.

    Attributes:
        inertia: [kg·m²] reflected at the output shaft.
        friction: viscous friction [N·m·s/rad].
        load_nm: constant load torque [N·m] (a crude gravity), pulling towards −q.
        timeout_s: [s] without any frame before the motor latches LOST_COMM.
        timeout_kd: damping [N·m·s/rad] applied while in LOST_COMM.
    """

    inertia: float = 0.02
    friction: float = 0.2
    load_nm: float = 0.0
    timeout_s: float = 0.4
    timeout_kd: float = 1.0


@dataclass
class EmulatedMotor:
    """State of one emulated motor (read it, do not write it, from tests)."""

    spec: MotorSpec
    physics: MotorPhysics
    p: float = 0.0  # [rad] position as the motor reports it (after its zero offset)
    v: float = 0.0  # [rad/s]
    tau: float = 0.0  # [N·m] applied torque
    state: int = MotorState.DISABLED
    cmd: MitCommand = field(default_factory=MitCommand)
    last_rx_s: float = 0.0
    silent: bool = False
    external_nm: float = 0.0
    frames: int = 0
    mit_frames: int = 0
    t_mos: int = 32
    t_rotor: int = 35

    def torque(self) -> float:
        lim = self.spec.lim
        if self.state == MotorState.ENABLED:
            c = self.cmd
            tau = c.kp * (c.p - self.p) + c.kd * (c.v - self.v) + c.t
            return float(np.clip(tau, -lim.t_max, lim.t_max))
        if self.state == MotorState.LOST_COMM:
            return -self.physics.timeout_kd * self.v
        return 0.0

    def step(self, dt: float) -> None:
        self.tau = self.torque()
        ph = self.physics
        acc = (self.tau - ph.friction * self.v - ph.load_nm + self.external_nm) / ph.inertia
        self.v += acc * dt
        self.p += self.v * dt

    def feedback(self) -> Feedback:
        return Feedback(self.spec.can_id & 0xF, self.state, self.p, self.v, self.tau, self.t_mos, self.t_rotor)


class DamiaoChainEmulator:
    """Emulated Damiao motors answering on a python-can bus.

    Args:
        channel: bus channel (any name for the virtual bus).
        motors: the motors (ids, models, limits), in the driver's order.
        interface: python-can interface (``virtual``; ``socketcan`` on a vcan works too).
        physics: one :class:`MotorPhysics` for all motors, or one per motor.
        initial_p: starting positions [rad] (motor frame), default all zero.
        physics_dt: [s] integration sub-step.
        bus_options: extra ``can.Bus`` keyword arguments (e.g. ``port`` for ``udp_multicast``,
            which lets the emulator serve a driver in another process).
    """

    def __init__(
        self,
        channel: str,
        motors: Sequence[MotorSpec],
        *,
        interface: str = "virtual",
        physics: MotorPhysics | Sequence[MotorPhysics] = MotorPhysics(),
        initial_p: Sequence[float] | None = None,
        physics_dt: float = 0.0005,
        bus_options: dict[str, Any] | None = None,
    ) -> None:
        phys = [physics] * len(motors) if isinstance(physics, MotorPhysics) else list(physics)
        if len(phys) != len(motors):
            raise ValueError(f"{len(phys)} physics for {len(motors)} motors")
        self.motors = [EmulatedMotor(m, ph) for m, ph in zip(motors, phys, strict=True)]
        if initial_p is not None:
            for m, p in zip(self.motors, initial_p, strict=True):
                m.p = float(p)
        self._by_id = {m.spec.can_id: m for m in self.motors}
        self.channel = channel
        self.interface = interface
        self.physics_dt = physics_dt
        self.bus_options = dict(bus_options or {})
        self.lock = threading.RLock()
        self.foreign_frames = 0
        self._bus: can.BusABC | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._t_last = time.monotonic()

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> DamiaoChainEmulator:
        self._bus = can.Bus(interface=self.interface, channel=self.channel, **self.bus_options)
        self._t_last = time.monotonic()
        for m in self.motors:
            m.last_rx_s = self._t_last
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"damiao-emu-{self.channel}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._bus is not None:
            self._bus.shutdown()
            self._bus = None

    def __enter__(self) -> DamiaoChainEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- observation -------------------------------------------------------------------
    @property
    def positions(self) -> np.ndarray:
        with self.lock:
            return np.array([m.p for m in self.motors])

    @property
    def states(self) -> list[int]:
        with self.lock:
            return [int(m.state) for m in self.motors]

    @property
    def enabled(self) -> list[bool]:
        return [s == MotorState.ENABLED for s in self.states]

    def last_command(self, i: int) -> MitCommand:
        with self.lock:
            return self.motors[i].cmd

    # ---- fault injection ----------------------------------------------------------------
    def silence(self, i: int, silent: bool = True) -> None:
        """Motor ``i`` stops hearing and answering (its CAN link is cut), or comes back."""
        with self.lock:
            self.motors[i].silent = silent

    def set_error(self, i: int, state: MotorState) -> None:
        """Latch an error state (over-temperature...) as the motor's protection would."""
        with self.lock:
            self.motors[i].state = state

    def push(self, i: int, torque_nm: float) -> None:
        """Apply an external torque [N·m] to joint ``i`` (0 to let go)."""
        with self.lock:
            self.motors[i].external_nm = torque_nm

    # ---- the motors' firmware -------------------------------------------------------
    def _advance(self, now: float) -> None:
        dt_total = min(now - self._t_last, 1.0)  # a stalled test process must not explode the physics
        self._t_last = now
        n = max(1, int(np.ceil(dt_total / self.physics_dt)))
        dt = dt_total / n
        for m in self.motors:
            if m.state == MotorState.ENABLED and now - m.last_rx_s > m.physics.timeout_s:
                m.state = MotorState.LOST_COMM
            for _ in range(n):
                m.step(dt)

    def _handle(self, msg: can.Message, now: float) -> None:
        m = self._by_id.get(msg.arbitration_id)
        if m is None or msg.is_error_frame or msg.is_remote_frame:
            self.foreign_frames += 1
            return
        if m.silent:
            return
        m.frames += 1
        m.last_rx_s = now
        data = bytes(msg.data)
        special = parse_special(data)
        if special is Special.ENABLE:
            # A latched error stays until cleared; the feedback frame shows it.
            if m.state == MotorState.DISABLED:
                m.cmd = MitCommand()  # limp until the first MIT frame
                m.state = MotorState.ENABLED
        elif special is Special.DISABLE:
            if m.state == MotorState.ENABLED:
                m.state = MotorState.DISABLED
        elif special is Special.CLEAR_ERROR:
            if m.state >= 0x8:
                m.state = MotorState.DISABLED
        elif special is Special.SAVE_ZERO:
            m.p = 0.0
        elif len(data) == 8:
            m.mit_frames += 1
            if m.state == MotorState.ENABLED:
                m.cmd = unpack_mit(data, m.spec.lim)
        assert self._bus is not None
        reply = can.Message(
            arbitration_id=m.spec.master_id, data=pack_feedback(m.feedback(), m.spec.lim), is_extended_id=False
        )
        self._bus.send(reply)

    def _run(self) -> None:
        assert self._bus is not None
        bus = self._bus
        while not self._stop.is_set():
            msg = bus.recv(timeout=0.002)
            now = time.monotonic()
            with self.lock:
                self._advance(now)
                if msg is not None:
                    self._handle(msg, now)
