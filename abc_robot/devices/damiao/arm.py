"""The YAM follower arm: six Damiao joints and a Damiao gripper in MIT mode over CAN.

:class:`YamArm` implements :class:`~abc_robot.devices.backend.ArmBackend`. A control
cycle sends one MIT frame to each of the seven motors and collects their feedback
(:class:`~abc_robot.devices.damiao.chain.DamiaoChain`); a background thread runs it at
``control_hz`` (250 Hz on the rig), or, with ``control_hz = 0``, each ``command()`` /
``read_state()`` runs one cycle. Every frame to an energized joint carries the
follower model's gravity torque (× the variant's per-joint scale) as feed-forward, as
the vendor's driver does, so a stiff hold does not sag.

**Connect** reads each motor's registers and refuses to run a motor whose gear ratio
(model) or stored P_MAX / V_MAX / T_MAX differ from the variant's table (every MIT
frame is scaled by them: a mismatch reads and commands the joint wrongly); the message
names the motor, the register and the fix. The CAN timeout register is read too and
written (RAM, not flash) where a motor has none or a longer one than
``can_timeout_s``: the motors' own timeout is what damps the arm if this process dies.
Connect never enables nor disables a motor.

**States and stops** (a gravity-loaded arm is never dropped):

- ``off``: after connect, motors as found (disabled at power-up); feedback only.
- ``on``: tracking; the setpoint slews towards the target at ``max_speed_rad_s``.
- ``held`` (``set_torque(False)``: the follower's HOLD-with-torque-off and ESTOP): stiff
  position hold where the arm is, gravity compensated; commands are ignored until
  ``set_torque(True)`` (or a command) re-engages tracking from there.
- ``stopped`` (a fault: a silent motor, a motor error, a joint ``limit_fault_rad`` past
  its limit, a bus failure): the answering motors hold (``safe_stop: hold``, gravity of
  the arm as it is now as feed-forward) or float damped (``damping``), gravity
  compensated; ``fault`` names the motor and why; ``read_state`` returns None and
  ``command`` raises DeviceError, so the follower holds and says why. A motor whose link
  is cut cannot be held by anyone: it runs its last frame until its own CAN timeout
  (``can_timeout_s``), then damps (LOST_COMM), and the joint sinks under gravity at its
  damped speed until its stop or the link is back. A stop caused only by lost links ends
  by itself: once every motor has answered for ``reconnect_after_s``, the dropped-out
  motors are cleared and enabled where they are now, the arm goes to ``held``, samples
  return and the follower re-anchors on the measured pose (no snap). Any other fault
  waits for ``set_torque(True)``.
- **clean exit** (``close()``, also at interpreter exit): park at ``rest_q_rad`` (folded,
  each loaded joint on its lower stop) at ``park_speed_rad_s``, then release (disable)
  the motors there. If parking cannot finish, the motors are left to their own timeout.
- **lost process** (SIGKILL, a crash): no more frames; each motor's CAN timeout puts it
  into its own damping (``can_timeout_s`` after the last frame).

Joint ``i`` = ``direction[i] · (motor_i − offset[i])`` [rad]; the gripper value is ABC's
(0 = closed, 1 = open): ``(motor − gripper_closed_rad) / (gripper_open_rad −
gripper_closed_rad)``; its torque is capped at the grip-force limit.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
from typing import Any

import can
import numpy as np

from abc_robot.devices.backend import ArmBackend, ArmSample
from abc_robot.devices.damiao.chain import DamiaoChain
from abc_robot.devices.damiao.config import YamConfig
from abc_robot.devices.damiao.connect import check_registers, measure_gripper_stops, motor_name, resolve_turns
from abc_robot.devices.damiao.protocol import (
    MitCommand,
    MotorState,
    Special,
)
from abc_robot.devices.damiao.variants import GRIPPERS
from abc_robot.devices.joint_map import JointMap
from abc_robot.errors import DeviceError
from abc_robot.runtime.rate import RateLoop

__all__ = ["YamConfig", "YamArm"]

_OFF, _ON, _HELD, _STOPPED, _PARKING = "off", "on", "held", "stopped", "parking"
_ENERGIZED = (_ON, _HELD, _STOPPED, _PARKING)
#: [rad/s] below this the gripper counts as stalled and its torque is capped (the vendor's
#: clog threshold).
_CLOG_SPEED_RAD_S = 0.3


class YamArm(ArmBackend):
    """A YAM follower arm over CAN; see the module docstring.

    Args:
        config: variant, ids, gains, timing.
        bus: an already open python-can bus to use instead of opening one from the
            config (the arm then does not shut it down).
        arm: arm name (``left`` / ``right``), for thread names and messages.
    """

    dof = 7
    Config = YamConfig

    def __init__(self, config: YamConfig, *, bus: can.BusABC | None = None, arm: str = "") -> None:
        self.config = config
        self.arm = arm
        self._ext_bus = bus
        self._bus: can.BusABC | None = None
        self.chain: DamiaoChain | None = None
        c = config
        #: Motor ↔ joint coordinates (offsets move by whole turns at connect; the gripper's
        #: end stops are set by their measurement).
        self.map = JointMap(c.offsets_rad, c.directions, c.gripper_closed_rad, c.gripper_open_rad)
        self._lower = np.array(c.joint_lower_rad)
        self._upper = np.array(c.joint_upper_rad)
        self._kp = np.array(c.kp, dtype=np.float64)
        self._kd = np.array(c.kd, dtype=np.float64)
        grip = GRIPPERS[c.gripper]
        #: [N·m] gripper motor torque cap: the grip force through the linkage's stroke ratio.
        self.grip_torque_nm = c.grip_force_n * grip.finger_stroke_m / grip.motor_stroke_rad
        self._gravity_model: Any = None
        self._gravity_scale = np.array(c.gravity_scale, dtype=np.float64)
        self._state = _OFF
        self._fault: str | None = None
        self._link_stop = False  # the safe stop was caused by lost links only (it ends by itself)
        self._back_since_ns = 0  # since when every motor answers again in such a stop
        self._target = np.zeros(7)  # motor-side targets [rad]
        self._setpoint = np.zeros(7)  # slewed motor-side setpoints [rad]
        self._hold = np.zeros(7)  # motor positions held in the held / stopped states
        self._sample: ArmSample | None = None
        self._bus_lock = threading.RLock()  # one exchange on the bus at a time
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_cycle_ns = 0
        self.loop: RateLoop | None = None
        self.cycles = 0
        self.loop_errors = 0
        self.fault_log: list[str] = []
        #: Per motor, what connect read (and wrote) in its registers: for ``abc-rig check``.
        self.motor_settings: list[dict[str, Any]] = []
        self.parked: bool | None = None  # after close(): whether it parked and released

    @classmethod
    def from_config(cls, config: YamConfig, arm: str = "") -> YamArm:
        """Build from a config (the follower's backend registry calls this)."""
        return cls(config, arm=arm)

    # ---- ArmBackend ----------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self.chain is not None

    @property
    def fault(self) -> str | None:
        return self._fault

    @property
    def torque_enabled(self) -> bool:
        """True while tracking commands (not held, stopped or parking)."""
        return self._state == _ON

    @property
    def setpoint_reached(self) -> bool:
        """True once the slewed setpoint has arrived at the commanded target (tracking)."""
        return self._state == _ON and bool(np.all(np.abs(self._setpoint - self._target) < 1e-9))

    @property
    def state(self) -> str:
        """``off``, ``on``, ``held``, ``stopped`` or ``parking`` (see the module docstring)."""
        return self._state

    def connect(self) -> None:
        """Open the bus, check every motor's registers, read the arm, start the loop.

        Raises:
            DeviceError: the bus cannot be opened, a motor does not answer, or a motor's
                model or stored limits differ from the variant's (the message names the
                motor, the register and the fix).
        """
        if self.chain is not None:
            return
        c = self.config
        try:
            if self._ext_bus is not None:
                self._bus = self._ext_bus
            else:
                self._bus = can.Bus(interface=c.interface, channel=c.channel, bitrate=c.bitrate, **c.bus_options)
        except (OSError, can.CanError, ValueError) as exc:
            self._release()
            raise DeviceError(
                f"cannot open CAN {c.interface}:{c.channel} ({exc}); is the interface up "
                f"(`sudo ip link set {c.channel} up type can bitrate {c.bitrate}`)?"
            ) from exc
        self.chain = DamiaoChain(self._bus, c.motor_specs())
        try:
            self.motor_settings, notes = check_registers(self.chain, c)
            for note in notes:
                self._set_fault(note)
            if c.gravity_compensation:
                from abc_robot.kinematics.model import ArmModel

                self._gravity_model = ArmModel.from_urdf(c.urdf)
            missing = list(range(7))
            for _ in range(c.enable_attempts):
                with self._bus_lock:  # zero-gain frames: feedback only (a disabled motor ignores them)
                    self.chain.mit([MitCommand() if i in missing else None for i in range(7)], c.reply_timeout_s * 3)
                missing = [i for i, ln in enumerate(self.chain.links) if ln.feedback is None]
                if not missing:
                    break
            if missing:
                raise DeviceError(f"no feedback from {', '.join(self._name(i) for i in missing)} on {c.channel}")
            for note in resolve_turns(self.chain, self.map, self._lower, self._upper):
                self._set_fault(note)
            if c.gripper_stops == "measure":
                self.map.g_closed, self.map.g_open = measure_gripper_stops(self.chain, c, self.map.span)
        except Exception:
            self._release()
            raise
        self._update_sample(time.monotonic_ns())
        if any(self._reports(i, MotorState.ENABLED) for i in range(7)):
            # Motors left enabled (a process that died mid-run, before their timeout): hold them.
            self.set_torque(False)
        atexit.register(self.close)
        if c.control_hz > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"yam-{self.arm or c.channel}", daemon=True)
            self._thread.start()

    def read_state(self) -> ArmSample | None:
        if self.chain is None:
            return None
        if self._thread is None:
            self.cycle()
        return self._sample

    def command(self, q: np.ndarray) -> np.ndarray:
        """Set joint targets [rad] and the gripper opening [0, 1]; returns them after clamping.

        Enables torque first if it is off or held (raises DeviceError if a motor refuses).

        Raises:
            DeviceError: the arm is in its safe stop (``fault`` says why; ``read_state``
                returns None meanwhile), or a motor refused to enable.
        """
        if self.chain is None:
            raise DeviceError("YamArm.command() before connect()")
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise ValueError(f"command needs 7 finite values (6 joints [rad] + gripper [0, 1]), got {q!r}")
        clamped = np.concatenate([np.clip(q[:6], self._lower, self._upper), [np.clip(q[6], 0.0, 1.0)]])
        if self._state == _STOPPED:
            raise DeviceError(f"YAM arm {self.arm or self.config.channel}: {self._fault}")
        if self._state in (_OFF, _HELD):
            self.set_torque(True)
        with self._bus_lock:
            if self._state != _ON:  # a fault while enabling
                raise DeviceError(f"YAM arm {self.arm or self.config.channel}: {self._fault or 'not tracking'}")
            self._target = self._to_motor(clamped)
        if self._thread is None:
            self.cycle()
        return clamped

    def set_torque(self, enabled: bool) -> None:
        """Track from where the arm is (True), or hold it there, stiff and gravity compensated (False).

        Enabling also clears latched motor errors and leaves a safe stop. Torque off never
        releases a motor: a YAM would fall (see the module docstring).

        Raises:
            DeviceError: enabling failed (the motors that did enable hold where they are).
        """
        if self.chain is None:
            raise DeviceError("YamArm.set_torque() before connect()")
        with self._bus_lock:
            if not enabled:
                if self._state in (_ON, _PARKING):
                    # Where the motors are being held now (the measured pose carries the
                    # servo's gravity error; holding that would move the arm by it again).
                    self._hold = self._setpoint.copy()
                    self._state = _HELD
                elif self._state == _OFF and any(self._reports(i, MotorState.ENABLED) for i in range(7)):
                    self._hold = self._measured()
                    self._state = _HELD
                return
            if self._state == _ON:
                return
            chain = self.chain
            todo = [i for i in range(7) if not self._reports(i, MotorState.ENABLED)]
            if todo:
                # Clear first, whatever the cached feedback says: it may predate a latched
                # error (a link that came back from LOST_COMM). A healthy motor ignores it.
                chain.special(Special.CLEAR_ERROR, self.config.reply_timeout_s, todo)
            # The first frame an enabled motor sees must already hold it: send the hold first.
            self._hold = self._measured()
            for _ in range(self.config.enable_attempts):
                if not todo:
                    break
                chain.special(Special.ENABLE, self.config.reply_timeout_s * 3, todo)
                chain.mit(self._hold_commands(self._hold), self.config.reply_timeout_s)
                todo = [i for i in todo if not self._reports(i, MotorState.ENABLED)]
            if todo:
                why = ", ".join(f"{self._name(i)} ({self._state_text(i)})" for i in todo)
                self._state = _HELD if len(todo) < 7 else _OFF
                raise DeviceError(f"cannot enable the YAM arm on {self.config.channel}: {why}")
            measured = self._measured()
            self._target = measured.copy()
            self._setpoint = measured.copy()
            self._state = _ON
            self._fault = None
            self._last_cycle_ns = time.monotonic_ns()

    def close(self) -> None:
        """Clean exit: park at the rest pose, release the motors there, free the bus. Idempotent."""
        atexit.unregister(self.close)
        if self.chain is not None and self._state in _ENERGIZED:
            try:
                self.parked = self._park()
            except Exception as exc:  # noqa: BLE001 - close must finish releasing the bus
                self.parked = False
                self._set_fault(f"parking at close failed: {exc!r}")
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=2.0)
            self._thread = None
        if self.chain is not None and self.parked:
            try:
                missing = self._disable_all()
                if missing:
                    self._set_fault(f"release not confirmed by {', '.join(self._name(i) for i in missing)} at close")
            except Exception as exc:  # noqa: BLE001
                self._set_fault(f"release at close failed: {exc!r}")
        self._release()

    # ---- status -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Figures for the follower's heartbeat (JSON-able)."""
        chain = self.chain
        out: dict[str, Any] = {"state": self._state, "fault": self._fault, "cycles": self.cycles}
        if self.loop is not None:
            out["loop"] = self.loop.stats()
        if chain is not None:
            out["motor_states"] = [self._state_text(i) for i in range(len(chain))]
            out["misses"] = [ln.misses for ln in chain.links]
            out["temps_c"] = [ln.feedback.t_rotor if ln.feedback else None for ln in chain.links]
            out["send_errors"] = chain.send_errors
            out["loop_errors"] = self.loop_errors
            out["can_timeout_s"] = [m.get("can_timeout_s") for m in self.motor_settings]
        return out

    # ---- the control cycle -------------------------------------------------------------------
    def gravity_torque(self, q_joint: np.ndarray) -> np.ndarray:
        """Motor-side feed-forward [N·m] (7, gripper 0) holding the joints ``q_joint`` (6) against gravity."""
        tau = np.zeros(7)
        if self._gravity_model is not None:
            import pinocchio as pin

            m = self._gravity_model
            g = pin.computeGeneralizedGravity(m.model, m.data, np.asarray(q_joint, dtype=np.float64))
            tau[:6] = self.map.sign * self._gravity_scale * np.asarray(g)
        return tau

    def cycle(self) -> None:
        """One exchange with all seven motors, then the health checks (the loop calls this)."""
        chain = self.chain
        if chain is None:
            return
        c = self.config
        with self._bus_lock:
            now = time.monotonic_ns()
            dt = min(max((now - self._last_cycle_ns) / 1e9, 0.0), 0.05) if self._last_cycle_ns else 0.0
            self._last_cycle_ns = now
            if self._state in (_ON, _PARKING):
                speed = c.max_speed_rad_s if self._state == _ON else c.park_speed_rad_s
                step = speed * dt
                self._setpoint += np.clip(self._target - self._setpoint, -step, step)
                cmds = self._hold_commands(self._setpoint)
            elif self._state == _HELD:
                cmds = self._hold_commands(self._hold)
            elif self._state == _STOPPED and c.safe_stop == "hold":
                # Gravity of the arm as it is now: a joint whose motor dropped out moves,
                # and the load it puts on the held joints moves with it.
                cmds = self._hold_commands(self._hold, self._joint_q())
            elif self._state == _STOPPED:
                ff = self.gravity_torque(self._joint_q())
                kd = [*np.maximum(c.grav_comp_kd, c.damping_kd), c.damping_kd]
                cmds = [MitCommand(kd=kd[i], t=ff[i]) for i in range(7)]
            else:
                cmds = [MitCommand() for _ in range(7)]  # disabled: feedback only
            chain.mit(cmds, c.reply_timeout_s)
            self.cycles += 1
            self._check_health(time.monotonic_ns())
            self._update_sample(now)

    def _hold_commands(self, p_motor: np.ndarray, q_gravity: np.ndarray | None = None) -> list[MitCommand]:
        """MIT frames holding ``p_motor`` with the variant's gains, gravity (of the joints
        ``q_gravity``, default those held) as feed-forward, and the gripper's torque capped
        at the grip force."""
        ff = self.gravity_torque(self.map.sign * (p_motor[:6] - self.map.off) if q_gravity is None else q_gravity)
        p = p_motor.copy()
        fb = self.chain.links[6].feedback if self.chain is not None else None
        if fb is not None and self._kp[6] > 0 and abs(fb.v) < _CLOG_SPEED_RAD_S:
            # Stalled (on an object or a stop): the servo's pull is capped at the grip force.
            # A moving gripper is not capped, so it still opens and closes briskly.
            reach = self.grip_torque_nm / self._kp[6]
            p[6] = float(np.clip(p[6], fb.p - reach, fb.p + reach))
        return [MitCommand(p=p[i], kp=self._kp[i], kd=self._kd[i], t=ff[i]) for i in range(7)]

    def _check_health(self, now: int) -> None:
        c = self.config
        assert self.chain is not None
        link: list[str] = []  # lost links: silent motors, motors that latched LOST_COMM
        hard: list[str] = []  # anything else: a motor error, a joint past its limit
        silent = False
        for i, ln in enumerate(self.chain.links):
            age_s = (now - ln.rx_ns) / 1e9 if ln.rx_ns else math.inf
            if ln.missed_cycles >= c.silent_after_cycles and age_s >= c.silent_after_s:
                # No age in the text: it is the fault's name, stable while the fault lasts.
                link.append(f"{self._name(i)} silent (no answer on {c.channel}: its CAN link or power)")
                silent = True
            elif ln.feedback is not None and ln.feedback.is_error:
                lost = self._reports(i, MotorState.LOST_COMM)
                (link if lost else hard).append(f"{self._name(i)} reports {self._state_text(i)}")
        if self._state == _ON:
            q = self._joint_q()
            over = np.maximum(self._lower - q, q - self._upper)
            for j in np.flatnonzero(over > c.limit_fault_rad).tolist():
                hard.append(f"{self._name(j)} at {q[j]:.3f} rad is {over[j]:.3f} rad past its limit")
        if self._state == _STOPPED:
            self._link_stop = self._link_stop and not hard
            if self._link_stop and not silent:
                # Every motor answers again: after reconnect_after_s of that, enable the
                # ones that dropped out and hold the arm where it is.
                self._back_since_ns = self._back_since_ns or now
                if now - self._back_since_ns >= c.reconnect_after_s * 1e9:
                    self._reconnect()
                    return
            else:
                self._back_since_ns = 0
        problems = link + hard
        if not problems:
            if self._fault is not None and self._state != _STOPPED:
                self._fault = None  # e.g. a motor that answers again while torque is off
            return
        text = "; ".join(problems)
        if self._state in (_ON, _HELD, _PARKING):
            self._enter_safe_stop(text, links_only=not hard)
        elif self._state == _STOPPED:
            self._set_fault(self._stop_text(text))
        else:
            self._set_fault(text)

    def _stop_text(self, why: str) -> str:
        then = (
            "re-enabled by itself once every motor answers again"
            if self._link_stop
            else "call set_torque(True) to re-enable"
        )
        return f"safe stop ({self.config.safe_stop}): {why}; {then}"

    def _enter_safe_stop(self, why: str, links_only: bool = False) -> None:
        assert self.chain is not None
        self._hold = self._measured()
        self._state = _STOPPED
        self._link_stop = links_only
        self._back_since_ns = 0
        self._set_fault(self._stop_text(why))

    def _reconnect(self) -> None:
        """End a safe stop caused by lost links: every motor answers again. The motors that
        dropped out (LOST_COMM, or disabled) are cleared and enabled holding where they are
        now (never where they were: that would snap the joint back); the arm is ``held``."""
        assert self.chain is not None
        c = self.config
        chain = self.chain
        self._back_since_ns = 0
        todo = [i for i in range(7) if not self._reports(i, MotorState.ENABLED)]
        back = ", ".join(self._name(i) for i in todo) or "no motor"
        # Hold every joint where it is now: the ones that dropped out sank, and the held
        # ones gave way by what the gravity feed-forward could not know of the sunk joint
        # (no feedback from it): holding their old pose with the now right feed-forward
        # would spring them back.
        hold = self._measured()
        if todo:
            chain.special(Special.CLEAR_ERROR, c.reply_timeout_s, todo)
        for _ in range(c.enable_attempts):
            if not todo:
                break
            chain.special(Special.ENABLE, c.reply_timeout_s * 3, todo)
            chain.mit(self._hold_commands(hold, self._joint_q()), c.reply_timeout_s)
            todo = [i for i in todo if not self._reports(i, MotorState.ENABLED)]
        if todo:
            why = ", ".join(f"{self._name(i)} ({self._state_text(i)})" for i in todo)
            self._set_fault(self._stop_text(f"answers again but does not enable: {why}"))
            return
        self._hold = hold
        self._state = _HELD
        self._link_stop = False
        self._fault = None
        self.fault_log.append(f"every motor answers again: {back} re-enabled, the arm held where it is")

    def _run(self) -> None:
        self.loop = RateLoop(self.config.control_hz)
        self.loop.start()
        while not self._stop.is_set():
            self.loop.sleep()
            try:
                self.cycle()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any bus error
                self.loop_errors += 1
                with self._bus_lock:
                    if self._state in (_ON, _HELD, _PARKING):
                        self._enter_safe_stop(f"control cycle failed: {exc!r}")
                    else:
                        self._set_fault(f"control cycle failed: {exc!r}")
                time.sleep(0.01)

    # ---- helpers ------------------------------------------------------------------------------
    def _park(self) -> bool:
        """Move to the rest pose (gravity compensated) and report whether it got there."""
        c = self.config
        with self._bus_lock:
            if self._state == _OFF:
                return False
            if self._state != _ON:
                try:
                    self.set_torque(True)
                except DeviceError:
                    return False
            rest = np.concatenate([np.clip(np.array(c.rest_q_rad), self._lower, self._upper), [1.0]])
            self._target = self._to_motor(rest)
            self._target[6] = self._setpoint[6]  # the gripper stays as it is
            self._state = _PARKING
        deadline = time.monotonic() + c.park_timeout_s
        while time.monotonic() < deadline:
            if self._thread is None:
                self.cycle()
                time.sleep(0.004)
            else:
                time.sleep(0.02)
            if self._state != _PARKING:
                return False  # a fault on the way: the safe stop holds the arm
            q = self._joint_q()
            if np.all(np.abs(self._setpoint - self._target) < 1e-9) and np.all(np.abs(q - rest[:6]) < 0.02):
                return True
        return False

    def _measured(self) -> np.ndarray:
        assert self.chain is not None
        return np.array([ln.feedback.p if ln.feedback else 0.0 for ln in self.chain.links])

    def _joint_q(self) -> np.ndarray:
        return self.map.sign * (self._measured()[:6] - self.map.off)

    def _update_sample(self, stamp_ns: int) -> None:
        assert self.chain is not None
        if self._state == _STOPPED:
            # In its safe stop the arm does not follow commands: the follower must hold
            # (``fault`` says why) and re-anchor on the measured pose when this ends.
            self._sample = None
            return
        links = self.chain.links
        c = self.config
        stale = [
            i
            for i, ln in enumerate(links)
            if ln.feedback is None
            or (ln.missed_cycles >= c.silent_after_cycles and (stamp_ns - ln.rx_ns) / 1e9 >= c.silent_after_s)
        ]
        if stale:
            self._sample = None  # a joint without fresh data: the follower must not act on it
            return
        p = np.array([ln.feedback.p for ln in links])  # type: ignore[union-attr]
        v = np.array([ln.feedback.v for ln in links])  # type: ignore[union-attr]
        t = np.array([ln.feedback.t for ln in links])  # type: ignore[union-attr]
        m = self.map
        self._sample = ArmSample(q=m.joints(p), stamp_ns=stamp_ns, dq=m.rates(v), effort=m.efforts(t))

    def _to_motor(self, q: np.ndarray) -> np.ndarray:
        return self.map.motors(q)

    def _disable_all(self) -> list[int]:
        """Disable every motor (retrying); return the motors that never confirmed."""
        assert self.chain is not None
        with self._bus_lock:
            todo = list(range(7))
            for _ in range(self.config.enable_attempts):
                replied = self.chain.special(Special.DISABLE, self.config.reply_timeout_s * 3, todo)
                todo = [i for i in todo if not replied[i] or self._reports(i, MotorState.ENABLED)]
                if not todo:
                    break
            self._state = _OFF
            return todo

    def _reports(self, i: int, state: MotorState) -> bool:
        assert self.chain is not None
        fb = self.chain.links[i].feedback
        return fb is not None and int(fb.state) == int(state)

    def _state_text(self, i: int) -> str:
        assert self.chain is not None
        fb = self.chain.links[i].feedback
        if fb is None:
            return "never answered"
        st = fb.state
        return st.name.lower() if isinstance(st, MotorState) else f"state {st:#x}"

    def _set_fault(self, text: str | None) -> None:
        if text is not None and text != self._fault:
            self.fault_log.append(text)
        self._fault = text

    @staticmethod
    def _name(i: int) -> str:
        return motor_name(i)

    def _release(self) -> None:
        if self._bus is not None and self._bus is not self._ext_bus:
            try:
                self._bus.shutdown()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._bus = None
        self.chain = None
        self._state = _OFF
        self._sample = None
