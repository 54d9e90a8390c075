"""The hardware twin of a rig: every device of ``rig.yaml`` emulated and coupled to one world.

:class:`RigTwin` reads a rig directory and starts, in this process:

- each GELLO leader as a Dynamixel Protocol 2.0 chain on a pseudo-terminal
  (:class:`~abc_robot.testing.dynamixel_leader.EmulatedLeader`), built with the rig's
  leader calibration (or a twin calibration written to the run directory when the rig
  has none yet), moved by a hand (:mod:`abc_robot.testing.twin.hand`) or a test;
- each YAM follower as a Damiao chain on its own ``udp_multicast`` python-can bus (the
  rig's SocketCAN bus, between processes on one host, with no kernel module),
  coupled to that arm of the twin world (:class:`TwinDamiaoChain`);
- the console board on a pseudo-terminal;
- the world itself (:class:`TwinWorld`), publishing ``sim/qpos`` for the cameras, which
  become ``kind: sim`` camera nodes rendering it (a RealSense cannot be emulated).

:meth:`RigTwin.write_overlay` writes the YAML that ``--rig R --rig-overlay FILE``
deep-merges onto ``rig.yaml``: only addresses (ports, CAN groups, calibration files the
twin wrote, latency-timer files, camera kinds) change; drivers, launch and preflight are
the real ones. Knobs for faults and preflight: :meth:`unplug_leader`,
:meth:`silence_motor`, :meth:`set_latency_timer`, ``camera_size``.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from abc_robot.calibration.schema import LeaderCalibration, load_leader_calibration, save_leader_calibration
from abc_robot.devices.damiao.config import YamConfig
from abc_robot.errors import ConfigError
from abc_robot.rig import RigConfig, load_rig
from abc_robot.rig.follower_calibration import (
    FollowerCalibration,
    load_follower_calibration,
    save_follower_calibration,
)
from abc_robot.runtime.config import from_dict
from abc_robot.sim.config import SimConfig
from abc_robot.sim.layout import ARMS
from abc_robot.sim.world import HOME_Q
from abc_robot.testing.console_board_emulator import ConsoleBoardEmulator
from abc_robot.testing.dynamixel_leader import EmulatedLeader, Motion
from abc_robot.testing.twin.hand import hold_hand
from abc_robot.testing.twin.motors import MotorMap, TwinDamiaoChain
from abc_robot.testing.twin.plant import TwinWorld

__all__ = ["RigTwin"]

#: [s] GIL switch interval of a process running a twin (CPython's default is 0.005).
SWITCH_INTERVAL_S = 0.001

#: YAM driver timing for motors that are threads of a Python process on a shared machine
#: (they answer when the twin gets the CPU, not within the rig's microseconds).
TWIN_MOTOR_TIMING: dict[str, Any] = {"reply_timeout_s": 0.05, "silent_after_s": 0.5, "enable_attempts": 5}

#: Trigger servo angles [rad] of a twin leader the rig has no calibration for.
_TWIN_TRIGGER_OPEN_RAD, _TWIN_TRIGGER_CLOSED_RAD = 1.0, 1.8


def _from_now(motion: Motion) -> Motion:
    """``motion`` with its time origin at its first call."""
    t0: list[float] = []

    def shifted(t: float) -> tuple[Any, float]:
        if not t0:
            t0.append(t)
        return motion(t - t0[0])

    return shifted


class RigTwin:
    """Every device of a rig, emulated and coupled to one MuJoCo world.

    Args:
        rig_dir: the rig directory (``rigs/<name>``).
        run_dir: where ptys, twin calibration files, the overlay and sockets go.
        task: sim task whose objects are in the world.
        seed: seed of the world's reset (object placement).
        camera_size: ``(width, height)`` [px] the cameras render (default the rig's own;
            CI renders smaller). The overlay declares it, so preflight compares it.
        motor_timeout_s: [s] the motors' CAN timeout (0.4 s on the rig; busy CI more).
        hands: the operator's hand per leader arm (default: hold the world's start pose).
        relaxed_timing: the overlay gives the YAM drivers :data:`TWIN_MOTOR_TIMING`
            (False: the rig's own timing, for a quiet machine).

    Attributes:
        rig: the loaded rig. world: the :class:`TwinWorld`. leaders / chains: per arm.
        console: the console board emulator (or None).
    """

    def __init__(
        self,
        rig_dir: str | Path,
        run_dir: str | Path,
        *,
        task: str = "lift_cube",
        seed: int = 0,
        camera_size: tuple[int, int] | None = None,
        motor_timeout_s: float = 0.4,
        hands: Mapping[str, Motion] | None = None,
        relaxed_timing: bool = True,
    ) -> None:
        self.rig: RigConfig = load_rig(rig_dir)
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.qpos_endpoint = f"ipc://{self.run_dir}/twin_qpos"
        self.task = task
        w, h = camera_size or self._rig_camera_size()
        self.sim_cfg = SimConfig(task=task, seed=seed, image_width=w, image_height=h)
        self.world = TwinWorld(self.sim_cfg, qpos_bind=self.qpos_endpoint)
        self.motor_timeout_s = motor_timeout_s
        self.leaders: dict[str, EmulatedLeader] = {}
        self.leader_cal: dict[str, Path] = {}
        self.chains: dict[str, TwinDamiaoChain] = {}
        self.follower_cal: dict[str, Path] = {}
        self.can: dict[str, dict[str, Any]] = {}
        self.latency_files: dict[str, Path] = {}
        self.console: ConsoleBoardEmulator | None = None
        self._hands = dict(hands or {})
        self.relaxed_timing = relaxed_timing
        self._started = False

    def _rig_camera_size(self) -> tuple[int, int]:
        for spec in self.rig.cameras.values():
            p = spec.params
            if "width" in p and "height" in p:
                return int(p["width"]), int(p["height"])
        return 224, 224

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> RigTwin:
        """Start every device and the world's physics; returns self.

        Sets this process's GIL switch interval to :data:`SWITCH_INTERVAL_S`: the emulated
        devices are threads of one interpreter, and a servo's reply must not wait 5 ms
        (CPython's default) for the physics thread to yield.
        """
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            for arm, spec in self.rig.followers.items():
                if spec.kind != "yam":
                    raise ConfigError(
                        f"the twin emulates yam followers only; followers.{arm}.kind is {spec.kind!r}",
                        file=str(Path(self.rig.root) / "rig.yaml"),
                        field=f"followers.{arm}.kind",
                    )
                self._start_follower(arm)
            for arm in self.rig.leaders:
                self._start_leader(arm)
            if self.rig.console is not None:
                self.console = ConsoleBoardEmulator(self.run_dir / "ttyTWIN_CONSOLE").start()
            self.world.start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop every device and the world (idempotent)."""
        if self.console is not None:
            self.console.stop()
            self.console = None
        for lead in self.leaders.values():
            lead.stop()
        self.leaders.clear()
        for chain in self.chains.values():
            self.world.detach(chain)
            chain.stop()
        self.chains.clear()
        self.world.close()

    def __enter__(self) -> RigTwin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- devices -----------------------------------------------------------------------
    def _start_follower(self, arm: str) -> None:
        spec = self.rig.followers[arm]
        cal_path = Path(self.rig.path(spec.calibration)) if spec.calibration else None
        if cal_path is not None and cal_path.is_file():
            cal = load_follower_calibration(cal_path, arm=arm)
        else:  # not calibrated yet: the twin's motors sit where a zero calibration says
            cal = FollowerCalibration(
                arm=arm,  # type: ignore[arg-type]
                offsets_rad=(0.0,) * 6,
                directions=(1.0,) * 6,
                gripper_open_rad=0.0,
                gripper_closed_rad=-2.0,
                reference_pose="zero",
            )
            cal_path = save_follower_calibration(cal, self.run_dir / f"twin_follower_{arm}.yaml")
        self.follower_cal[arm] = cal_path
        group = f"239.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
        bus_options: dict[str, Any] = {"port": random.randint(20000, 60000)}
        bus: dict[str, Any] = {"interface": "udp_multicast", "channel": group, "bus_options": bus_options}
        params = {**spec.params, **cal.driver_fields(), **bus}
        yam = from_dict(YamConfig, params, file=str(cal_path), prefix=f"followers.{arm}.params")
        chain = TwinDamiaoChain(
            self.world.world,
            arm,
            group,
            yam.motor_specs(),
            interface="udp_multicast",
            bus_options=bus_options,
            motor_map=MotorMap.from_yam(yam),
            timeout_s=self.motor_timeout_s,
        )
        self.can[arm] = bus
        self.chains[arm] = chain.start()
        self.world.attach(chain)

    def _start_leader(self, arm: str) -> None:
        spec = self.rig.leaders[arm]
        cal_path = Path(self.rig.path(spec.calibration))
        if cal_path.is_file():
            cal = load_leader_calibration(cal_path, arm=arm)
        else:
            cal = LeaderCalibration(
                arm=arm,  # type: ignore[arg-type]
                offsets_rad=(0.0,) * 6,
                signs=tuple(float(s) for s in self.rig.leader.joint_signs),
                gripper_open_rad=_TWIN_TRIGGER_OPEN_RAD,
                gripper_closed_rad=_TWIN_TRIGGER_CLOSED_RAD,
                motor_ids=tuple(spec.motor_ids),
                baud=spec.baud,
            )
            cal_path = save_leader_calibration(cal, self.run_dir / f"twin_leader_{arm}.yaml")
        self.leader_cal[arm] = cal_path
        latency = self.run_dir / f"latency_timer_{arm}"
        latency.write_text("1\n")
        self.latency_files[arm] = latency
        hand = self._hands.get(arm) or hold_hand(np.asarray(HOME_Q))
        self.leaders[arm] = EmulatedLeader(
            self.run_dir / f"ttyTWIN_LEADER_{arm}",
            offsets_rad=cal.offsets_rad,
            signs=cal.signs,
            gripper_open_rad=cal.gripper_open_rad,
            gripper_closed_rad=cal.gripper_closed_rad,
            ids=cal.motor_ids,
            motion=hand,
        ).start()

    # ---- the overlay -------------------------------------------------------------------
    def overlay(self) -> dict[str, Any]:
        """What ``--rig-overlay`` merges onto ``rig.yaml`` to reach the twin's devices."""
        out: dict[str, Any] = {"leaders": {}, "followers": {}, "cameras": {}}
        for arm, lead in self.leaders.items():
            out["leaders"][arm] = {
                "port": str(lead.link),
                "by_id": str(lead.link),
                "calibration": str(self.leader_cal[arm]),
                "latency_timer_file": str(self.latency_files[arm]),
            }
        for arm, bus in self.can.items():
            params = dict(bus)
            if self.relaxed_timing:
                params.update(TWIN_MOTOR_TIMING)
            out["followers"][arm] = {"calibration": str(self.follower_cal[arm]), "params": params}
        for name, spec in self.rig.cameras.items():
            out["cameras"][name] = {
                "kind": "sim",
                "params": {
                    "sim": self.qpos_endpoint,
                    "world": {
                        "task": self.task,
                        "image_width": self.sim_cfg.image_width,
                        "image_height": self.sim_cfg.image_height,
                        "render_quality": "cheap",
                    },
                    "rate_hz": float(spec.params.get("fps", 30)),
                },
            }
        if self.console is not None:
            out["console"] = {"board": {"port": str(self.console.link)}, "by_id": str(self.console.link)}
        return out

    def write_overlay(self, path: str | Path | None = None) -> Path:
        """Write :meth:`overlay` as YAML (default ``<run_dir>/twin_overlay.yaml``); returns the path."""
        p = Path(path) if path is not None else self.run_dir / "twin_overlay.yaml"
        header = f"# Hardware twin of {self.rig.root}: device addresses for --rig-overlay.\n"
        p.write_text(header + yaml.safe_dump(self.overlay(), sort_keys=False))
        return p

    # ---- the operator's hand and fault knobs -------------------------------------------
    def set_hands(self, hands: Mapping[str, Motion]) -> None:
        """The hands the leaders start with (before :meth:`start`; later use :meth:`move_leader`)."""
        self._hands.update(hands)
        for arm, motion in hands.items():
            if arm in self.leaders:
                self.leaders[arm].move(motion)

    def move_leader(self, arm: str, motion: Motion | None) -> None:
        """The hand on leader ``arm`` follows ``motion`` (None: holds where it is)."""
        self.leaders[arm].move(motion)

    def play(self, motions: Mapping[str, Motion]) -> None:
        """Start ``motions`` on the leaders now (each motion's ``t = 0`` is this moment)."""
        for arm, motion in motions.items():
            self.leaders[arm].move(_from_now(motion))

    def reset_objects(self, seed: int) -> None:
        """Place the task's objects anew from ``seed``; the arms stay where they are."""
        with self.world.lock:
            w = self.world.world
            w.reset(seed, arm_q={arm: w.arm_state(arm)[0] for arm in ARMS})

    def unplug_leader(self, arm: str, unplugged: bool = True) -> None:
        """Pull leader ``arm``'s USB cable (its pty vanishes), or plug it back."""
        chain = self.leaders[arm].chain
        chain.unplug() if unplugged else chain.replug()

    def silence_motor(self, arm: str, index: int, silent: bool = True) -> None:
        """Cut motor ``index`` (0-6) of follower ``arm`` off the bus, or reconnect it."""
        self.chains[arm].silence(index, silent)

    def set_latency_timer(self, arm: str, ms: int) -> None:
        """What leader ``arm``'s USB-serial latency timer file reads [ms] (the rig wants 1)."""
        self.latency_files[arm].write_text(f"{int(ms)}\n")

    def arm_q(self, arm: str) -> np.ndarray:
        """Follower ``arm``'s joints in the world (7: joints [rad], gripper opening)."""
        return self.world.arm_q(arm)
