"""The YAM follower arm: six Damiao joints and a Damiao gripper in MIT mode over CAN.

:class:`YamArm` implements :class:`~abc_robot.devices.backend.ArmBackend`. A control
cycle sends one MIT frame to each of the seven motors and collects their feedback
(:class:`~abc_robot.devices.damiao.chain.DamiaoChain`); a background thread runs it at
``control_hz`` (250 Hz on the rig: Damiao motors drop into damping when left without
frames for 400 ms, so the motors are fed even when the follower's own loop is slower),
or, with ``control_hz = 0``, each ``command()`` / ``read_state()`` runs one cycle.

States: **off** (motors disabled; zero-gain frames keep feedback flowing),
**on** (tracking: the setpoint slews towards the commanded target at most at
``max_speed_rad_s``, so a far target never makes a jump), **stopped** (a fault: a
motor went silent, reported an error, or the bus failed; the remaining motors damp
(``safe_stop: damping``) or hold where they were (``hold``), commands are ignored,
``fault`` says why, until ``set_torque(True)`` re-enables every motor from its
current position). Torque goes off in ``close()``, at interpreter exit if nobody
called it, and the motors' own CAN timeout covers a killed process.

Joint ``i`` = ``direction[i] · (motor_i − offset[i])`` [rad]; the gripper opening in
[0, 1] maps linearly from ``gripper_open_rad`` to ``gripper_closed_rad`` (motor).
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
from abc_robot.devices.damiao.protocol import MitCommand, MotorState, Special
from abc_robot.errors import DeviceError
from abc_robot.runtime.rate import RateLoop

__all__ = ["YamConfig", "YamArm"]

_TWO_PI = 2 * math.pi
_OFF, _ON, _STOPPED = "off", "on", "stopped"


class YamArm(ArmBackend):
    """A YAM follower arm over CAN; see the module docstring.

    Args:
        config: ids, limits, gains, timing.
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
        self._emulator: Any = None
        self.chain: DamiaoChain | None = None
        c = config
        self._dir = np.array(c.directions)
        self._off = np.array(c.offsets_rad)
        self._lower = np.array(c.joint_lower_rad)
        self._upper = np.array(c.joint_upper_rad)
        self._kp = np.array(c.kp)
        self._kd = np.array(c.kd)
        self._state = _OFF
        self._fault: str | None = None
        self._target = np.zeros(7)  # motor-side targets [rad]
        self._setpoint = np.zeros(7)  # slewed motor-side setpoints [rad]
        self._hold = np.zeros(7)  # motor positions held in the "hold" safe stop
        self._sample: ArmSample | None = None
        self._bus_lock = threading.RLock()  # one exchange on the bus at a time
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_cycle_ns = 0
        self.loop: RateLoop | None = None
        self.cycles = 0
        self.loop_errors = 0
        self.fault_log: list[str] = []

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
        """True while tracking commands (not after a fault's safe stop)."""
        return self._state == _ON

    def connect(self) -> None:
        """Open the bus, find all seven motors, leave them disabled, start the loop.

        Raises:
            DeviceError: the bus cannot be opened or a motor does not answer (the
                message names the motors and what to check).
        """
        if self.chain is not None:
            return
        c = self.config
        try:
            if c.emulate:
                from abc_robot.testing.damiao_emulator import DamiaoChainEmulator  # tests and demos only

                init = [o for o in c.offsets_rad] + [c.gripper_open_rad]
                self._emulator = DamiaoChainEmulator(
                    c.channel, c.motor_specs(), initial_p=init, bus_options=c.bus_options
                ).start()
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
        missing = self._disable_all()
        if missing:
            names = ", ".join(f"{self._name(i)} (id {c.motor_ids[i]:#x})" for i in missing)
            self._release()
            raise DeviceError(
                f"no answer from {names} on {c.channel}: check motor power, CAN wiring and "
                "termination, and the ids in the config"
            )
        self._resolve_turns()
        self._update_sample(time.monotonic_ns())
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

        Enables torque first if it is off (raises DeviceError if a motor refuses).
        After a fault the arm stays in its safe stop and the returned values are what
        it actually holds (measured positions); ``fault`` says why.
        """
        if self.chain is None:
            raise DeviceError("YamArm.command() before connect()")
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise ValueError(f"command needs 7 finite values (6 joints [rad] + gripper [0, 1]), got {q!r}")
        clamped = np.concatenate([np.clip(q[:6], self._lower, self._upper), [np.clip(q[6], 0.0, 1.0)]])
        if self._state == _OFF:
            self.set_torque(True)
        with self._bus_lock:
            if self._state == _ON:
                self._target = self._to_motor(clamped)
                out = clamped
            else:
                sample = self._sample
                out = sample.q.copy() if sample is not None else clamped
        if self._thread is None:
            self.cycle()
        return out

    def set_torque(self, enabled: bool) -> None:
        """Enable every motor (from where it is now) or disable them all.

        Enabling also clears latched motor errors and leaves a safe stop.

        Raises:
            DeviceError: enabling failed (the motors are disabled again); disabling never raises.
        """
        if self.chain is None:
            raise DeviceError("YamArm.set_torque() before connect()")
        if not enabled:
            missing = self._disable_all()
            if missing:
                self._set_fault(f"disable not confirmed by {', '.join(self._name(i) for i in missing)}")
            return
        with self._bus_lock:
            chain = self.chain
            errors = [i for i, ln in enumerate(chain.links) if ln.feedback is not None and ln.feedback.is_error]
            if errors:
                chain.special(Special.CLEAR_ERROR, self.config.reply_timeout_s, errors)
            todo = list(range(7))
            for _ in range(self.config.enable_attempts):
                chain.special(Special.ENABLE, self.config.reply_timeout_s * 3, todo)
                todo = [i for i in todo if not self._reports(i, MotorState.ENABLED)]
                if not todo:
                    break
            if todo:
                self._disable_all()
                why = ", ".join(f"{self._name(i)} ({self._state_text(i)})" for i in todo)
                raise DeviceError(f"cannot enable the YAM arm on {self.config.channel}: {why}")
            measured = np.array([ln.feedback.p for ln in chain.links if ln.feedback is not None])
            self._target = measured.copy()
            self._setpoint = measured.copy()
            self._state = _ON
            self._fault = None
            self._last_cycle_ns = time.monotonic_ns()

    def close(self) -> None:
        """Stop the loop, disable every motor, release the bus. Idempotent."""
        atexit.unregister(self.close)
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=2.0)
            self._thread = None
        if self.chain is not None:
            try:
                missing = self._disable_all()
                if missing:
                    self._set_fault(f"disable not confirmed by {', '.join(self._name(i) for i in missing)} at close")
            except Exception as exc:  # noqa: BLE001 - close must finish releasing the bus
                self._set_fault(f"disable at close failed: {exc!r}")
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
        return out

    # ---- the control cycle -------------------------------------------------------------------
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
            if self._state == _ON:
                step = c.max_speed_rad_s * dt
                self._setpoint += np.clip(self._target - self._setpoint, -step, step)
                cmds = [MitCommand(p=self._setpoint[i], kp=self._kp[i], kd=self._kd[i]) for i in range(7)]
            elif self._state == _STOPPED and c.safe_stop == "hold":
                cmds = [MitCommand(p=self._hold[i], kp=self._kp[i], kd=self._kd[i]) for i in range(7)]
            elif self._state == _STOPPED:
                cmds = [MitCommand(kd=c.damping_kd) for _ in range(7)]
            else:
                cmds = [MitCommand() for _ in range(7)]  # limp: feedback only (and no CAN timeout)
            chain.mit(cmds, c.reply_timeout_s)
            self.cycles += 1
            self._check_health(time.monotonic_ns())
            self._update_sample(now)

    def _check_health(self, now: int) -> None:
        c = self.config
        assert self.chain is not None
        problems = []
        for i, ln in enumerate(self.chain.links):
            age_s = (now - ln.rx_ns) / 1e9 if ln.rx_ns else math.inf
            if ln.missed_cycles >= c.silent_after_cycles and age_s >= c.silent_after_s:
                problems.append(f"{self._name(i)} silent for {age_s:.2f} s")
            elif ln.feedback is not None and ln.feedback.is_error:
                problems.append(f"{self._name(i)} reports {self._state_text(i)}")
        if not problems:
            if self._fault is not None and self._state != _STOPPED:
                self._fault = None  # e.g. a motor that answers again while torque is off
            return
        text = "; ".join(problems)
        if self._state == _ON:
            self._enter_safe_stop(text)
        elif self._state == _STOPPED:
            self._fault = f"safe stop ({c.safe_stop}): {text}; call set_torque(True) to re-enable"
        else:
            self._set_fault(text)

    def _enter_safe_stop(self, why: str) -> None:
        assert self.chain is not None
        self._hold = np.array([ln.feedback.p if ln.feedback else 0.0 for ln in self.chain.links])
        self._state = _STOPPED
        self._set_fault(f"safe stop ({self.config.safe_stop}): {why}; call set_torque(True) to re-enable")

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
                    if self._state == _ON:
                        self._enter_safe_stop(f"control cycle failed: {exc!r}")
                    else:
                        self._set_fault(f"control cycle failed: {exc!r}")
                time.sleep(0.01)

    # ---- helpers ------------------------------------------------------------------------------
    def _update_sample(self, stamp_ns: int) -> None:
        assert self.chain is not None
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
        span = c.gripper_closed_rad - c.gripper_open_rad
        q = np.concatenate([self._dir * (p[:6] - self._off), [np.clip((p[6] - c.gripper_open_rad) / span, 0.0, 1.0)]])
        dq = np.concatenate([self._dir * v[:6], [v[6] / span]])
        eff = np.concatenate([self._dir * t[:6], [t[6] * math.copysign(1.0, span)]])
        self._sample = ArmSample(q=q, stamp_ns=stamp_ns, dq=dq, effort=eff)

    def _to_motor(self, q: np.ndarray) -> np.ndarray:
        c = self.config
        grip = c.gripper_open_rad + q[6] * (c.gripper_closed_rad - c.gripper_open_rad)
        return np.concatenate([self._off + self._dir * q[:6], [grip]])

    def _resolve_turns(self) -> None:
        """Damiao positions are only known modulo 2π at power-up: pick, per joint, the
        turn that puts the joint inside its limits (as the motor's offset)."""
        assert self.chain is not None
        for i in range(6):
            fb = self.chain.links[i].feedback
            if fb is None:
                continue
            q = self._dir[i] * (fb.p - self._off[i])
            if self._lower[i] - 0.2 <= q <= self._upper[i] + 0.2:
                continue
            for k in (-2, -1, 1, 2):
                if self._lower[i] - 0.2 <= q - k * _TWO_PI <= self._upper[i] + 0.2:
                    self._off[i] += self._dir[i] * k * _TWO_PI
                    break
            else:
                self._set_fault(f"{self._name(i)} reads {q:.2f} rad, outside its limits on every turn; check offsets")

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
        return "gripper" if i == 6 else f"joint{i + 1}"

    def _release(self) -> None:
        if self._bus is not None and self._bus is not self._ext_bus:
            try:
                self._bus.shutdown()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._bus = None
        self.chain = None
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        self._state = _OFF
        self._sample = None
