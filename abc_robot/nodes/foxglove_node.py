"""Foxglove node: the running robot in Foxglove over its WebSocket protocol (``--view``).

Its own process, subscribing latest-value (it never queues or slows anything upstream)
to both followers, the cameras and the console; each tick it streams to connected
Foxglove clients (foxglove-sdk's server, ``ws://127.0.0.1:8765`` by default):

- ``/camera/<name>``: ``foxglove.CompressedImage`` (JPEG), at most ``camera_rate_hz``;
- ``/joint_states/<arm>``: measured and commanded joints (JSON: ``name``, ``position``
  [rad, gripper 0 closed .. 1 open], ``velocity``, ``effort``, ``command``);
- ``/tf``: ``foxglove.FrameTransforms``: ``world`` → ``<arm>/base_link`` (the rig layout)
  → every link of the arm's URDF (``<arm>/<link>``, from forward kinematics of the
  measured joints); ``/<arm>/robot_description``: the URDF text, so Foxglove's URDF layer
  (frame prefix ``<arm>/``) draws the arms;
- ``/log``: ``foxglove.Log`` lines for mode and control-source changes and console
  events (interventions, episode start/stop, outcomes);
- ``/latency``: the age of each source's newest sample when it was sent [ms].

Nothing is encoded for a topic no client subscribes to. Loopback by default: binding
another address is the explicit ``host`` parameter (``--view-host``).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.runtime.node import Node
from abc_robot.transport.messages import Event

__all__ = ["FoxgloveNode", "FoxgloveConfig", "add_view_node", "view_node_spec"]

_JOINTS_SCHEMA = {
    "type": "object",
    "properties": {
        "stamp_ns": {"type": "integer"},
        "name": {"type": "array", "items": {"type": "string"}},
        "position": {"type": "array", "items": {"type": "number"}},
        "velocity": {"type": "array", "items": {"type": "number"}},
        "effort": {"type": "array", "items": {"type": "number"}},
        "command": {"type": "array", "items": {"type": "number"}},
        "mode": {"type": "string"},
        "control_source": {"type": "string"},
    },
}
_TEXT_SCHEMA = {"type": "object", "properties": {"data": {"type": "string"}}}
_LATENCY_SCHEMA = {"type": "object", "additionalProperties": {"type": "number"}}


@dataclass(frozen=True)
class FoxgloveConfig:
    """Foxglove server settings (launch file ``params``).

    Attributes:
        host: address the WebSocket server binds (loopback by default; another one
            exposes the robot's data to anyone who reaches it).
        port: its port (0: any free one, reported in the status).
        followers: arm → endpoint of its follower node.
        cameras: camera name → endpoint of the node publishing ``camera/<name>``.
        console: endpoints publishing ``console/event``.
        layout: the bimanual layout file (arm bases in the world, URDFs).
        rate_hz: loop rate [Hz] (joint states, transforms, latencies).
        camera_rate_hz: camera images sent at most this often, each [Hz].
        jpeg_quality: JPEG quality of the camera images (1-100).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    followers: dict[str, str] = field(
        default_factory=lambda: {"left": "ipc://${run}/follower_left", "right": "ipc://${run}/follower_right"}
    )
    cameras: dict[str, str] = field(default_factory=dict)
    console: list[str] = field(default_factory=lambda: ["ipc://${run}/console"])
    layout: str = "bimanual.yaml"
    rate_hz: float = 30.0  # [Hz]
    camera_rate_hz: float = 15.0  # [Hz]
    jpeg_quality: int = 75

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.rate_hz <= 0 or self.camera_rate_hz <= 0:
            raise ValueError("rate_hz and camera_rate_hz must be positive")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")


def _fm() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import foxglove.messages as fm
    return fm


def _stamp(fm: Any, unix_ns: int) -> Any:
    return fm.Timestamp(sec=unix_ns // 1_000_000_000, nsec=unix_ns % 1_000_000_000)


class _ArmFrames:
    """Every link of one arm from forward kinematics (pinocchio, the arm's URDF)."""

    def __init__(self, arm: str, urdf: Path, T_world_base: np.ndarray) -> None:
        import pinocchio as pin

        from abc_robot.kinematics.model import ArmModel

        self.arm, self.pin = arm, pin
        self.model = ArmModel.from_urdf(urdf)
        self.urdf_text = Path(self.model.urdf_path).read_text()
        self.T_world_base = T_world_base
        m = self.model.model
        self.frames = [
            (i, f.name) for i, f in enumerate(m.frames) if f.type == pin.FrameType.BODY and f.name != m.frames[0].name
        ]
        self.data = m.createData()

    def transforms(self, q6: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
        """``(parent, child, T_parent_child)``: world → base, then base → every link."""
        m, d = self.model.model, self.data
        self.pin.forwardKinematics(m, d, np.asarray(q6, dtype=np.float64)[: m.nq])
        self.pin.updateFramePlacements(m, d)
        base = f"{self.arm}/base_link"
        out = [("world", base, self.T_world_base)]
        for i, name in self.frames:
            if name == "base_link":
                continue
            out.append((base, f"{self.arm}/{name}", d.oMf[i].homogeneous))
        return out


class FoxgloveNode(Node):
    Config = FoxgloveConfig

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.server: Any = None
        self.sent: dict[str, int] = {}
        self.last_mode: dict[str, tuple[str, str]] = {}
        self.last_cam_ns: dict[str, int] = {}
        self.last_cam_seq: dict[str, int] = {}
        self.arms: dict[str, _ArmFrames] = {}
        self.offset_ns = time.time_ns() - time.monotonic_ns()

    def setup(self) -> None:
        import foxglove
        import foxglove.channels as ch

        cfg: FoxgloveConfig = self.config
        self.fm = _fm()
        self.ctx = foxglove.Context()
        self.server = foxglove.start_server(name="abc_robot", host=cfg.host, port=cfg.port, context=self.ctx)
        self.log(f"Foxglove WebSocket server on ws://{cfg.host}:{self.server.port}")
        self.ch_cam = {c: ch.CompressedImageChannel(f"/camera/{c}", context=self.ctx) for c in cfg.cameras}
        self.ch_joints = {
            a: foxglove.Channel(f"/joint_states/{a}", schema=_JOINTS_SCHEMA, context=self.ctx) for a in cfg.followers
        }
        self.ch_urdf = {
            a: foxglove.Channel(f"/{a}/robot_description", schema=_TEXT_SCHEMA, context=self.ctx) for a in cfg.followers
        }
        self.ch_tf = ch.FrameTransformsChannel("/tf", context=self.ctx)
        self.ch_log = ch.LogChannel("/log", context=self.ctx)
        self.ch_latency = foxglove.Channel("/latency", schema=_LATENCY_SCHEMA, context=self.ctx)
        topics = [f"follower/{a}/" for a in cfg.followers] + [f"camera/{c}" for c in cfg.cameras]
        self.sub = self.latest([*cfg.followers.values(), *cfg.cameras.values()], topics)
        self.events = self.reliable(cfg.console, ["console/event"]) if cfg.console else None
        self.urdf_sent_ns = 0
        # The arms' models after the server is up (before the first heartbeat, within
        # the graph's startup grace: pinocchio's import alone takes seconds on a busy machine).
        from abc_robot.sim.layout import BimanualLayout

        layout = BimanualLayout.load(cfg.layout)
        for arm in cfg.followers:
            if arm in layout.arms:
                pl = layout.arms[arm]
                self.arms[arm] = _ArmFrames(arm, pl.urdf, pl.T_world_base)

    # ---- the loop ---------------------------------------------------------------------
    def step(self, now_ns: int) -> None:
        cfg: FoxgloveConfig = self.config
        self.sub.poll()
        mono = time.monotonic_ns()  # ages are taken now, not at the tick's scheduled time
        unix = time.time_ns()
        fm = self.fm
        if self.events is not None:
            for _, ev in self.events.drain(100):
                if isinstance(ev, Event):
                    text = f"{ev.kind} {json.dumps(ev.data, default=str)}" if ev.data else ev.kind
                    self._log(int(ev.stamp_ns) or now_ns, text, "console")
        if unix - self.urdf_sent_ns > 2_000_000_000:  # late joiners get the URDF within 2 s
            self.urdf_sent_ns = unix
            for a, frames in self.arms.items():
                if a in self.ch_urdf and self.ch_urdf[a].has_sinks():
                    self.ch_urdf[a].log({"data": frames.urdf_text}, log_time=unix)
                    self._count(f"/{a}/robot_description")
        latency: dict[str, float] = {}
        tfs = []
        for arm in cfg.followers:
            st: Any = self.sub.get(f"follower/{arm}/state")
            cmd: Any = self.sub.get(f"follower/{arm}/command")
            if st is not None:
                latency[f"follower/{arm}/state"] = (mono - int(st.stamp_ns)) / 1e6
                if self.ch_joints[arm].has_sinks():
                    q = np.asarray(st.q, dtype=np.float64)
                    msg = {
                        "stamp_ns": int(st.stamp_ns) + self.offset_ns,
                        "name": [f"joint{i + 1}" for i in range(len(q) - 1)] + ["gripper"],
                        "position": q.tolist(),
                        "velocity": np.asarray(st.dq, dtype=np.float64).tolist(),
                        "effort": np.asarray(st.effort, dtype=np.float64).tolist(),
                        "command": [] if cmd is None else np.asarray(cmd.q, dtype=np.float64).tolist(),
                        "mode": "" if cmd is None else str(cmd.mode),
                        "control_source": "" if cmd is None else str(cmd.control_source),
                    }
                    self.ch_joints[arm].log(msg, log_time=int(st.stamp_ns) + self.offset_ns)
                    self._count(f"/joint_states/{arm}")
                if arm in self.arms and self.ch_tf.has_sinks():
                    tfs += self.arms[arm].transforms(np.asarray(st.q)[:6])
            if cmd is not None:
                latency[f"follower/{arm}/command"] = (mono - int(cmd.stamp_ns)) / 1e6
                mode = (str(cmd.mode), str(cmd.control_source))
                if self.last_mode.get(arm) != mode:
                    self.last_mode[arm] = mode
                    self._log(int(cmd.stamp_ns), f"{arm}: mode {mode[0]}, control source {mode[1]}", arm)
        if tfs:
            ts = _stamp(fm, unix)
            msg = fm.FrameTransforms(transforms=[_tf(fm, ts, p, c, T) for p, c, T in tfs])
            self.ch_tf.log(msg, log_time=unix)
            self._count("/tf")
        for cam, chan in self.ch_cam.items():
            frame: Any = self.sub.get(f"camera/{cam}")
            if frame is None:
                continue
            stamp = int(frame.stamp_ns)
            latency[f"camera/{cam}"] = (mono - stamp) / 1e6
            fresh = stamp != self.last_cam_ns.get(cam)
            due = now_ns - self.last_cam_seq.get(cam, 0) >= 1e9 / cfg.camera_rate_hz
            if fresh and due and chan.has_sinks():
                import cv2

                ok, jpg = cv2.imencode(
                    ".jpg", np.ascontiguousarray(frame.image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
                )
                if ok:
                    chan.log(
                        fm.CompressedImage(
                            timestamp=_stamp(fm, stamp + self.offset_ns),
                            frame_id=cam,
                            data=jpg.tobytes(),
                            format="jpeg",
                        ),
                        log_time=stamp + self.offset_ns,
                    )
                    self.last_cam_ns[cam], self.last_cam_seq[cam] = stamp, now_ns
                    self._count(f"/camera/{cam}")
        if latency and self.ch_latency.has_sinks():
            self.ch_latency.log({k: round(v, 3) for k, v in latency.items()}, log_time=unix)
            self._count("/latency")

    def _log(self, stamp_ns: int, text: str, name: str) -> None:
        fm = self.fm
        t = stamp_ns + self.offset_ns
        self.ch_log.log(fm.Log(timestamp=_stamp(fm, t), level=fm.LogLevel.Info, message=text, name=name), log_time=t)
        self._count("/log")

    def _count(self, topic: str) -> None:
        self.sent[topic] = self.sent.get(topic, 0) + 1

    def teardown(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def status(self) -> dict[str, Any]:
        return {
            "url": f"ws://{self.config.host}:{self.server.port}" if self.server is not None else "",
            "port": self.server.port if self.server is not None else 0,
            "sent": dict(self.sent),
        }


def _tf(fm: Any, ts: Any, parent: str, child: str, T: np.ndarray) -> Any:
    from abc_robot.kinematics.se3 import quat_wxyz_from_R

    w, x, y, z = (float(v) for v in quat_wxyz_from_R(np.asarray(T)[:3, :3]))
    return fm.FrameTransform(
        timestamp=ts,
        parent_frame_id=parent,
        child_frame_id=child,
        translation=fm.Vector3(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
        rotation=fm.Quaternion(x=x, y=y, z=z, w=w),
    )


def view_node_spec(graph: Any, *, host: str = "127.0.0.1", port: int = 8765) -> Any:
    """A ``foxglove`` :class:`~abc_robot.runtime.launch.NodeSpec` wired to ``graph``'s followers, cameras and console."""
    from abc_robot.runtime.launch import NodeSpec

    followers: dict[str, str] = {}
    cameras: dict[str, str] = {}
    console: list[str] = []
    for n in graph.nodes:
        p = n.params
        if n.kind == "follower":
            followers[str(p.get("arm", n.name.rpartition("_")[2]))] = p["bind"]
            console += [c for c in p.get("console", []) if c not in console]
        elif n.kind == "sim_camera":
            cameras.update({c: p["bind"] for c in p.get("cameras", [])})
        elif n.kind == "camera":
            cameras[str(p.get("camera", "top"))] = p["bind"]
    params = {"host": host, "port": port, "followers": followers, "cameras": cameras, "console": console}
    return NodeSpec(name="foxglove", kind="foxglove", role="sink", on_failure="ignore", nice=5, params=params)


def add_view_node(graph: Any, *, host: str = "127.0.0.1", port: int = 8765) -> Any:
    """``graph`` with a ``foxglove`` node appended (see :func:`view_node_spec`)."""
    from abc_robot.runtime.launch import with_node

    return with_node(graph, view_node_spec(graph, host=host, port=port))
