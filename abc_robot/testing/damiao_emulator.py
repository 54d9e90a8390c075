"""A chain of Damiao motors on a python-can bus (the virtual bus in tests).

Each emulated motor speaks the real frames (:mod:`abc_robot.devices.damiao.protocol`):
it answers every frame addressed to it with a feedback frame from its master id,
obeys enable / disable / clear-error / save-zero, and, while enabled, applies the MIT
law ``tau = kp (p* - q) + kd (v* - dq) + t*`` (clipped to ±T_MAX) to a simple joint
(inertia, viscous friction, optional constant load). Like the firmware, a motor that
receives no frame for ``timeout_s`` (0.4 s on the rig) latches the LOST_COMM state and
only damps (``tau = -timeout_kd · dq``) until its error is cleared and it is enabled
again; a disabled or faulted motor ignores MIT commands.

Like the firmware, each motor keeps its own settings in registers and answers register
reads and writes (:data:`~abc_robot.devices.damiao.protocol.REGISTER_ID` frames): its
P_MAX / V_MAX / T_MAX scale every MIT frame it decodes and every feedback it sends (so
a driver with another table reads and commands it wrongly, as on a real arm), the
TIMEOUT register (counts of 50 µs; 0 disables it) is its CAN timeout, and Gr is its
gear ratio. ``stored_limits`` sets a motor's limits as a misconfigured arm would hold them.

The joints behind the motors are a :class:`JointPlant`: by default independent joints
(:class:`MotorPhysics`); :class:`~abc_robot.testing.yam_plant.YamGravityPlant` couples
them through the YAM's rigid-body dynamics with gravity, and the hardware twin plugs
in its MuJoCo world the same way.

Fault injection: :meth:`silence` (the motor neither hears nor answers: a broken
CAN link), :meth:`set_error` (e.g. over-temperature), :meth:`push` (an external
torque, a hand on the arm).

The driver under test uses ``can.Bus(interface="virtual", channel=...)`` on the
same channel: only the bus interface differs from the rig.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import can
import numpy as np

from abc_robot.devices.damiao.chain import MotorSpec
from abc_robot.devices.damiao.protocol import (
    GEAR_RATIO,
    REG_READ,
    REG_SAVE,
    REG_WRITE,
    REGISTER_ID,
    TIMEOUT_S_PER_COUNT,
    Feedback,
    MitCommand,
    MotorLimits,
    MotorState,
    Register,
    Special,
    pack_feedback,
    parse_special,
    unpack_mit,
)

__all__ = ["MotorPhysics", "EmulatedMotor", "DamiaoChainEmulator", "JointPlant", "IndependentJoints"]


class JointPlant(Protocol):
    """The joints behind a chain of emulated motors, in motor order, motor shaft frame.

    The emulator calls :meth:`step` every ``physics_dt`` with each motor's output torque
    and reads the joints back; a motor's save-zero is an offset kept by the emulator.
    The gripper motor's position is motor radians: a plant maps it to finger travel.
    """

    def positions(self) -> np.ndarray:
        """[rad] per motor."""
        ...

    def velocities(self) -> np.ndarray:
        """[rad/s] per motor."""
        ...

    def step(self, torque_nm: np.ndarray, dt_s: float) -> None:
        """Apply each motor's torque [N·m] for ``dt_s`` [s]."""
        ...


class IndependentJoints:
    """Each motor drives its own inertia against viscous friction and a constant load."""

    def __init__(self, physics: Sequence[MotorPhysics], initial_p: Sequence[float]) -> None:
        self.physics = list(physics)
        self.p = np.array(initial_p, dtype=np.float64)
        self.v = np.zeros(len(self.physics))

    def positions(self) -> np.ndarray:
        return self.p.copy()

    def velocities(self) -> np.ndarray:
        return self.v.copy()

    def step(self, torque_nm: np.ndarray, dt_s: float) -> None:
        for i, ph in enumerate(self.physics):
            acc = (torque_nm[i] - ph.friction * self.v[i] - ph.load_nm) / ph.inertia
            self.v[i] += acc * dt_s
            self.p[i] += self.v[i] * dt_s


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
    register_frames: int = 0
    t_mos: int = 32
    t_rotor: int = 35
    zero_rad: float = 0.0  # plant position of the motor's zero (save-zero moves it)
    registers: dict[int, float | int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lim = self.spec.lim
        gr = GEAR_RATIO.get(self.spec.model.split("_")[0], 10.0)
        defaults: dict[int, float | int] = {
            Register.MST_ID: self.spec.master_id,
            Register.ESC_ID: self.spec.can_id,
            Register.TIMEOUT: round(self.physics.timeout_s / TIMEOUT_S_PER_COUNT),
            Register.CTRL_MODE: 1,
            Register.GR: gr,
            Register.PMAX: lim.p_max,
            Register.VMAX: lim.v_max,
            Register.TMAX: lim.t_max,
        }
        self.registers = {**{int(k): v for k, v in defaults.items()}, **self.registers}

    @property
    def limits(self) -> MotorLimits:
        """The P_MAX / V_MAX / T_MAX this motor holds (what scales its frames)."""
        r = self.registers
        return MotorLimits(float(r[Register.PMAX]), float(r[Register.VMAX]), float(r[Register.TMAX]))

    @property
    def timeout_s(self) -> float:
        """[s] CAN timeout from the TIMEOUT register (0: never times out)."""
        return float(self.registers[Register.TIMEOUT]) * TIMEOUT_S_PER_COUNT

    def torque(self) -> float:
        lim = self.limits
        if self.state == MotorState.ENABLED:
            c = self.cmd
            tau = c.kp * (c.p - self.p) + c.kd * (c.v - self.v) + c.t
            return float(np.clip(tau, -lim.t_max, lim.t_max))
        if self.state == MotorState.LOST_COMM:
            return -self.physics.timeout_kd * self.v
        return 0.0

    def feedback(self) -> Feedback:
        return Feedback(self.spec.can_id & 0xF, self.state, self.p, self.v, self.tau, self.t_mos, self.t_rotor)


class DamiaoChainEmulator:
    """Emulated Damiao motors answering on a python-can bus.

    Args:
        channel: bus channel (any name for the virtual bus).
        motors: the motors (ids, models, limits), in the driver's order.
        interface: python-can interface (``virtual``; ``socketcan`` on a vcan works too).
        physics: one :class:`MotorPhysics` for all motors, or one per motor.
        initial_p: starting positions [rad] (motor frame), default all zero; used by the
            default plant only (another plant starts where it is).
        physics_dt: [s] integration sub-step.
        bus_options: extra ``can.Bus`` keyword arguments (e.g. ``port`` for ``udp_multicast``,
            which lets the emulator serve a driver in another process).
        plant: the joints behind the motors (default :class:`IndependentJoints`).
        stored_limits: per motor, the limits stored in it when they differ from its
            spec's (None: the spec's), as on an arm set up by other tools.
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
        plant: JointPlant | None = None,
        stored_limits: Sequence[MotorLimits | None] | None = None,
    ) -> None:
        phys = [physics] * len(motors) if isinstance(physics, MotorPhysics) else list(physics)
        if len(phys) != len(motors):
            raise ValueError(f"{len(phys)} physics for {len(motors)} motors")
        self.motors = [EmulatedMotor(m, ph) for m, ph in zip(motors, phys, strict=True)]
        for m, lim in zip(self.motors, stored_limits or [None] * len(motors), strict=True):
            if lim is not None:
                m.registers.update({Register.PMAX: lim.p_max, Register.VMAX: lim.v_max, Register.TMAX: lim.t_max})
        self.plant: JointPlant = plant if plant is not None else IndependentJoints(phys, initial_p or [0.0] * len(motors))
        self._sync_from_plant()
        self._by_id = {m.spec.can_id: m for m in self.motors}
        self.channel = channel
        self.interface = interface
        self.physics_dt = physics_dt
        self.bus_options = dict(bus_options or {})
        self.lock = threading.RLock()
        self.foreign_frames = 0
        #: [s] most physics time simulated per wake-up of the emulator thread.
        self.max_step_s = 0.02
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
    def velocities(self) -> np.ndarray:
        with self.lock:
            return np.array([m.v for m in self.motors])

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

    def register(self, i: int, reg: Register) -> float | int:
        """What motor ``i`` holds in register ``reg``."""
        with self.lock:
            return self.motors[i].registers[int(reg)]

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
    def _sync_from_plant(self) -> None:
        p, v = self.plant.positions(), self.plant.velocities()
        for i, m in enumerate(self.motors):
            m.p, m.v = float(p[i] - m.zero_rad), float(v[i])

    def _advance(self, now: float) -> None:
        # A stalled emulator thread (a loaded machine) simulates at most max_step_s per wake-up:
        # its time dilates rather than spending ever longer catching up.
        dt_total = min(now - self._t_last, self.max_step_s)
        self._t_last = now
        n = max(1, int(np.ceil(dt_total / self.physics_dt)))
        dt = dt_total / n
        for m in self.motors:
            t_out = m.timeout_s
            if m.state == MotorState.ENABLED and t_out > 0 and now - m.last_rx_s > t_out:
                m.state = MotorState.LOST_COMM
        tau = np.zeros(len(self.motors))
        for _ in range(n):
            for i, m in enumerate(self.motors):
                m.tau = m.torque()
                tau[i] = m.tau + m.external_nm
            self.plant.step(tau, dt)
            self._sync_from_plant()

    def _register(self, m: EmulatedMotor, data: bytes) -> bytes | None:
        """The reply to a register frame addressed to ``m`` (None: not a valid one)."""
        cmd, addr = data[2], data[3]
        if cmd not in (REG_READ, REG_WRITE, REG_SAVE) or addr not in m.registers:
            return None
        m.register_frames += 1
        is_float = addr in (Register.GR, Register.PMAX, Register.VMAX, Register.TMAX)
        if cmd == REG_WRITE and addr != Register.GR and m.state == MotorState.DISABLED:
            # Settings change only while the motor is disabled, as the firmware demands.
            raw = struct.unpack("<f" if is_float else "<I", bytes(data[4:8]))[0]
            m.registers[addr] = float(raw) if is_float else int(raw)
        if cmd == REG_SAVE:
            return bytes(data[:4])
        value = m.registers[addr]
        return bytes(data[:4]) + struct.pack("<f" if is_float else "<I", float(value) if is_float else int(value))

    def _handle(self, msg: can.Message, now: float) -> None:
        data = bytes(msg.data)
        if msg.arbitration_id == REGISTER_ID and len(data) == 8 and not msg.is_error_frame:
            m = self._by_id.get(data[0] | (data[1] << 8))
            reply = None if m is None or m.silent else self._register(m, data)
            if m is None or reply is None:
                self.foreign_frames += m is None
                return
            m.last_rx_s = now
            assert self._bus is not None
            self._bus.send(can.Message(arbitration_id=m.spec.master_id, data=reply, is_extended_id=False))
            return
        m = self._by_id.get(msg.arbitration_id)
        if m is None or msg.is_error_frame or msg.is_remote_frame:
            self.foreign_frames += 1
            return
        if m.silent:
            return
        m.frames += 1
        m.last_rx_s = now
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
            m.zero_rad += m.p
            m.p = 0.0
        elif len(data) == 8:
            m.mit_frames += 1
            if m.state == MotorState.ENABLED:
                m.cmd = unpack_mit(data, m.limits)
        assert self._bus is not None
        reply_frame = can.Message(
            arbitration_id=m.spec.master_id, data=pack_feedback(m.feedback(), m.limits), is_extended_id=False
        )
        self._bus.send(reply_frame)

    def _run(self) -> None:
        assert self._bus is not None
        bus = self._bus
        while not self._stop.is_set():
            msg = bus.recv(timeout=0.002)
            msgs = [] if msg is None else [msg]
            while msg is not None and len(msgs) < 64:  # everything already queued: a late
                msg = bus.recv(timeout=0.0)  # emulator must not see those frames as missing
                if msg is not None:
                    msgs.append(msg)
            now = time.monotonic()
            with self.lock:
                for m in msgs:
                    self._handle(m, now)
                self._advance(now)
