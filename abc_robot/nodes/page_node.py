"""The operator's page: a web page served by a node of the graph (``--page``).

The page (viser: a 3D scene and controls served with its own browser client) shows the
two follower arms in 3D from ``urdf/`` at their measured joint angles, the leader arms
as translucent ghosts at the leaders' angles, the camera views, per arm its mode,
control source, command latency and intervention count, and the episode state; its
buttons publish the very console events and mode commands the keys and the pedal
send (on ``console/``, from this node's own endpoint, which the followers, leader and
recorder list among their ``console`` endpoints: :func:`add_page_node`).

It never slows the control path: it is a process of its own, subscribes with
latest-value semantics, and subscribes to the arms and cameras only while a browser
is connected; with none, each tick only reads console events (the episode state).
Loopback by default: another address is an explicit ``host``. With ``blind`` (during
``abc-eval``) it shows nothing that could name a policy: no event payloads (task,
checkpoint aliases), no policy figures; arms, cameras, modes and buttons stay.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from abc_robot.runtime.node import Node
from abc_robot.transport.bus import LatestSubscriber
from abc_robot.transport.messages import CameraFrame, Event, JointCommand, JointState, LeaderState, ModeCommand

__all__ = ["PageNode", "PageConfig", "BUTTONS", "add_page_node"]

LAYOUT = Path(__file__).resolve().parents[2] / "urdf" / "bimanual.yaml"

#: Button label → (``event`` | ``mode``, value), as the keys (cli/keys.py) send them;
#: ``episode_toggle`` / ``intervene_toggle`` become start/stop and on/off.
BUTTONS: dict[str, tuple[str, str]] = {
    "Start / stop episode": ("event", "episode_toggle"),
    "Success": ("event", "success"),
    "Fail": ("event", "fail"),
    "Discard": ("event", "episode_discard"),
    "Intervene": ("event", "intervene_toggle"),
    "TELEOP": ("mode", "TELEOP"),
    "POLICY": ("mode", "POLICY"),
    "HOLD": ("mode", "HOLD"),
    "ESTOP": ("mode", "ESTOP"),
}
_COLORS: dict[str, Any] = {"ESTOP": "red", "HOLD": "yellow", "Success": "green", "Fail": "orange"}


@dataclass(frozen=True)
class PageConfig:
    """Attributes:
    bind: this node's publisher endpoint (``console/event``, ``console/mode``).
    host: address the page is served on; loopback unless asked (``0.0.0.0``: every
        interface of this machine: anyone who reaches it can press ESTOP and HOLD).
    port: HTTP/WebSocket port of the page.
    followers: arm → follower endpoint (``follower/<arm>/state`` and ``/command``).
    leaders: endpoints publishing ``leader/<arm>``.
    cameras: camera name → endpoint publishing ``camera/<name>``.
    console: endpoints of the other console sources (keys, pedal, director), whose
        events make the episode state.
    layout: the bimanual layout (arm base poses, URDFs).
    rate_hz: page update rate [Hz] (arms and labels).
    camera_hz: camera view update rate [Hz].
    text_hz: update rate of the per-arm and episode text [Hz].
    blind: show nothing that could name a policy (``abc-eval``).
    """

    bind: str = "ipc://${run}/page"
    host: str = "127.0.0.1"
    port: int = 8080
    followers: dict[str, str] = field(
        default_factory=lambda: {a: f"ipc://${{run}}/follower_{a}" for a in ("left", "right")}
    )
    leaders: list[str] = field(default_factory=lambda: ["ipc://${run}/leader"])
    cameras: dict[str, str] = field(default_factory=dict)
    console: list[str] = field(default_factory=lambda: ["ipc://${run}/console"])
    layout: str = str(LAYOUT)
    rate_hz: float = 10.0  # [Hz]
    camera_hz: float = 5.0  # [Hz]
    text_hz: float = 2.0  # [Hz] (each text update re-renders in the browser)
    blind: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        if not 0 < self.rate_hz <= 60 or not 0 < self.camera_hz <= self.rate_hz or not 0 < self.text_hz <= self.rate_hz:
            raise ValueError("rate_hz must be in (0, 60] Hz, camera_hz and text_hz in (0, rate_hz]")
        if not Path(self.layout).is_file():
            raise ValueError(f"layout {self.layout} does not exist")


def _urdf_path(layout: Path, name: str) -> Path:
    return (layout.parent / name).resolve()


class _Arm:
    """One arm's 3D model (follower or ghost) in the viser scene."""

    def __init__(self, server: Any, root: str, urdf: Path, base: dict[str, Any], color: tuple | None) -> None:
        from scipy.spatial.transform import Rotation
        from viser.extras import ViserUrdf

        xyzw = Rotation.from_euler("xyz", base.get("base_rpy_rad", [0, 0, 0])).as_quat()
        server.scene.add_frame(root, position=tuple(base["base_xyz_m"]), wxyz=(xyzw[3], *xyzw[:3]), show_axes=False)
        self.urdf = ViserUrdf(server, urdf, root_node_name=root, mesh_color_override=color)
        self.limits = self.urdf.get_actuated_joint_limits()
        self.names = self.urdf.get_actuated_joint_names()
        self._shown: np.ndarray | None = None

    def show(self, q7: np.ndarray) -> None:
        """Joints [rad] then the gripper in [0, 1] (0 closed, 1 open) onto the model
        (sent to the browser only when it moved by a visible amount)."""
        if self._shown is not None and len(q7) == len(self._shown) and np.max(np.abs(q7 - self._shown)) < 2e-3:
            return
        self._shown = np.array(q7, dtype=float)
        cfg = np.zeros(len(self.names))
        n = min(6, len(self.names), len(q7) - 1)
        cfg[:n] = q7[:n]
        for i, name in enumerate(self.names[6:], start=6):  # finger joints from the gripper value
            lo, hi = self.limits[name]
            lo, hi = (lo or 0.0), (hi or 0.0)
            cfg[i] = lo + float(np.clip(q7[-1], 0.0, 1.0)) * (hi - lo)
        self.urdf.update_cfg(cfg)


@dataclass
class _ArmView:
    mode: str = "-"
    source: str = "-"
    latency_ms: float | None = None
    interventions: int = 0


class PageNode(Node):
    """Serves the operator's page; see the module docstring."""

    Config = PageConfig

    def __init__(self, name: str, config: PageConfig, **kw: Any) -> None:
        super().__init__(name, config, **kw)
        self.server: Any = None
        self.arms: dict[str, _ArmView] = {a: _ArmView() for a in config.followers}
        self.recording = False
        self.intervening = False
        self.episodes = 0
        self.last_outcome = "-"
        self.events = 0
        self.presses = 0
        self.clients = 0
        self.live: LatestSubscriber | None = None
        self._models: dict[str, _Arm] = {}
        self._views: Any = None
        self._shown_seqs: list[int] = []
        self._labels: Any = None
        self._episode_md: Any = None
        self._next_camera_ns = 0
        self._next_text_ns = 0

    def setup(self) -> None:
        import viser

        cfg: PageConfig = self.config
        self.pub = self.publisher(cfg.bind)
        self.console = self.reliable(cfg.console, ["console/event"])
        server = viser.ViserServer(host=cfg.host, port=cfg.port, label="abc_robot", verbose=False)
        self.server = server
        server.gui.configure_theme(control_width="large", show_share_button=False, show_logo=False)
        server.scene.set_up_direction("+z")
        server.initial_camera.position = (-1.1, 0.0, 1.6)
        server.initial_camera.look_at = (0.35, 0.0, 0.8)
        layout_path = Path(cfg.layout)
        layout = yaml.safe_load(layout_path.read_text())
        for arm in cfg.followers:
            spec = layout["arms"][arm]
            self._models[arm] = _Arm(server, f"/{arm}", _urdf_path(layout_path, spec["urdf"]), spec, None)
            ghost_urdf = _urdf_path(layout_path, spec.get("leader_urdf", spec["urdf"]))
            self._models[f"{arm}_ghost"] = _Arm(server, f"/{arm}_leader", ghost_urdf, spec, (0.2, 0.6, 1.0, 0.35))
        # The views side by side in one image (one update per tick, and all three stay in sight).
        self._views = server.gui.add_image(
            np.zeros((90, 120 * max(1, len(cfg.cameras)), 3), np.uint8),
            label=" · ".join(cfg.cameras) or "no cameras",
            format="jpeg",
            jpeg_quality=80,
        )
        with server.gui.add_folder("Controls"):
            for label, (kind, value) in BUTTONS.items():
                button = server.gui.add_button(label, color=_COLORS.get(label))
                button.on_click(self._on_click(kind, value))
        self._episode_md = server.gui.add_markdown(self._episode_text())
        self._labels = server.gui.add_markdown(self._arms_text())
        self.log(f"page on http://{cfg.host}:{server.get_port()}")

    # ---- buttons: the same messages as the keys --------------------------------------------
    def _on_click(self, kind: str, value: str) -> Any:
        def clicked(_event: Any) -> None:
            self.press(kind, value)

        return clicked

    def press(self, kind: str, value: str) -> None:
        """Publish what the key or pedal for ``value`` publishes."""
        self.presses += 1
        if kind == "mode":
            self.pub.publish("console/mode", ModeCommand(mode=value, reason=f"page {value}"))
            return
        if value == "episode_toggle":
            value = "episode_stop" if self.recording else "episode_start"
        elif value == "intervene_toggle":
            value = "intervene_off" if self.intervening else "intervene_on"
        ev = Event(kind=value)
        self.pub.publish("console/event", ev)
        self._on_event(ev)  # this node's own events are not echoed back to it

    def _on_event(self, ev: Event) -> None:
        self.events += 1
        if ev.kind == "episode_start":
            self.recording = True
        elif ev.kind in ("episode_stop", "success", "fail", "episode_discard"):
            if self.recording and ev.kind != "episode_discard":
                self.episodes += 1
            self.recording = False
            self.last_outcome = {"episode_stop": "stopped", "episode_discard": "discarded"}.get(ev.kind, ev.kind)
            if not self.config.blind and ev.data:
                self.last_outcome += f" {ev.data}"
        elif ev.kind in ("intervene_on", "intervene_off"):
            self.intervening = ev.kind == "intervene_on"

    # ---- the loop ----------------------------------------------------------------------------
    def step(self, now_ns: int) -> None:
        for _topic, msg in self.console.drain(1000):
            if isinstance(msg, Event):
                self._on_event(msg)
        self.clients = len(self.server.get_clients())
        if self.clients == 0:
            if self.live is not None:  # nobody watches: stop receiving arms and cameras
                self.live.close()
                self.live = None
            self._set_text(self._episode_md, self._episode_text())
            return
        if self.live is None:
            self.live = self._subscribe()
        fresh = self.live.poll()
        cfg: PageConfig = self.config
        with self.server.atomic():
            for arm in cfg.followers:
                state = self.live.get(f"follower/{arm}/state")
                if isinstance(state, JointState) and len(state.q) >= 7:
                    self._models[arm].show(np.asarray(state.q))
                leader = self.live.get(f"leader/{arm}")
                if isinstance(leader, LeaderState) and len(leader.q) >= 6:
                    self._models[f"{arm}_ghost"].show(np.r_[np.asarray(leader.q)[:6], leader.gripper])
                cmd = fresh.get(f"follower/{arm}/command")
                if isinstance(cmd, JointCommand):
                    self._on_command(arm, cmd)
        if now_ns >= self._next_text_ns:  # text re-renders in the browser: slowly, and only when changed
            self._next_text_ns = now_ns + int(1e9 / cfg.text_hz)
            self._set_text(self._labels, self._arms_text())
            self._set_text(self._episode_md, self._episode_text())
        if now_ns >= self._next_camera_ns:
            self._next_camera_ns = now_ns + int(1e9 / cfg.camera_hz)
            self._show_views()

    def _show_views(self) -> None:
        """The newest frame of each camera, at a common height, side by side."""
        frames = [self.live.get(f"camera/{c}") if self.live else None for c in self.config.cameras]
        seqs = [f.seq if isinstance(f, CameraFrame) else -1 for f in frames]
        if seqs == self._shown_seqs or all(s < 0 for s in seqs):
            return
        self._shown_seqs = seqs
        h = max((int(f.image.shape[0]) for f in frames if isinstance(f, CameraFrame) and f.encoding == "raw"), default=0)
        if h == 0:
            return
        tiles = []
        for f in frames:
            if isinstance(f, CameraFrame) and f.encoding == "raw" and f.image.ndim == 3:
                img = f.image
                if img.shape[0] != h:  # nearest-neighbour resize to the common height
                    rows = np.arange(h) * img.shape[0] // h
                    cols = np.arange(img.shape[1] * h // img.shape[0]) * img.shape[0] // h
                    img = img[rows][:, cols]
                tiles.append(img)
            else:
                tiles.append(np.zeros((h, h, 3), np.uint8))  # no frame yet: a black tile
        self._views.image = np.concatenate(tiles, axis=1)

    @staticmethod
    def _set_text(handle: Any, text: str) -> None:
        if handle.content != text:
            handle.content = text

    def _subscribe(self) -> LatestSubscriber:
        cfg: PageConfig = self.config
        endpoints = [*cfg.followers.values(), *cfg.leaders, *cfg.cameras.values()]
        topics = [f"follower/{a}/state" for a in cfg.followers] + [f"follower/{a}/command" for a in cfg.followers]
        topics += [f"leader/{a}" for a in cfg.followers] + [f"camera/{c}" for c in cfg.cameras]
        return LatestSubscriber(endpoints, topics)  # closed when the last browser leaves

    def _on_command(self, arm: str, cmd: JointCommand) -> None:
        view = self.arms[arm]
        if cmd.control_source == "intervention" and view.source != "intervention":
            view.interventions += 1
        view.mode, view.source = cmd.mode, cmd.control_source
        view.latency_ms = (cmd.stamp_ns - cmd.ref_stamp_ns) / 1e6 if cmd.ref_stamp_ns else None

    # ---- text --------------------------------------------------------------------------------
    def _arms_text(self) -> str:
        rows = ["| arm | mode | control | latency | interventions |", "|---|---|---|---|---|"]
        for arm, v in self.arms.items():
            lat = "-" if v.latency_ms is None else f"{v.latency_ms:.1f} ms"
            rows.append(f"| {arm} | **{v.mode}** | {v.source} | {lat} | {v.interventions} |")
        return "\n".join(rows)

    def _episode_text(self) -> str:
        rec = "**recording**" if self.recording else "idle"
        return f"Episode: {rec} · episodes {self.episodes} · last outcome: {self.last_outcome}"

    def teardown(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None
        if self.server is not None:
            # viser's stop can wait on a browser that no longer answers: never let it hold
            # up the graph's ordered stop (the supervisor kills a node that overstays).
            stopper = threading.Thread(target=self.server.stop, name="page-stop", daemon=True)
            stopper.start()
            stopper.join(2.0)
            if stopper.is_alive():
                self.log("page server did not stop within 2 s; leaving it to the process exit")
            self.server = None

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "clients": self.clients,
            "presses": self.presses,
            "recording": self.recording,
            "episodes": self.episodes,
        }
        out.update({f"mode_{a}": v.mode for a, v in self.arms.items()})
        return out


def add_page_node(graph: Any, *, host: str = "127.0.0.1", port: int = 8080, blind: bool = False) -> Any:
    """``graph`` (a :class:`~abc_robot.runtime.launch.LaunchGraph`) with a ``page`` node.

    Its endpoints are read from the graph (followers' ``bind``/``leader``/``console``,
    camera nodes' ``bind``), and the page's own endpoint is added to every node that
    lists ``console`` endpoints, so its buttons reach the followers, leader and recorder.
    """
    from abc_robot.runtime.launch import NodeSpec

    followers: dict[str, str] = {}
    leaders: list[str] = []
    console: list[str] = []
    cameras: dict[str, str] = {}
    for n in graph.nodes:
        p = n.params
        if n.kind == "follower":
            followers[str(p.get("arm", n.name.rpartition("_")[2]))] = p["bind"]
            if p.get("leader") and p["leader"] not in leaders:
                leaders.append(p["leader"])
            console += [c for c in p.get("console", []) if c not in console]
        elif n.kind == "sim_camera":
            cameras.update({c: p["bind"] for c in p.get("cameras", [])})
        elif n.kind == "camera":
            cameras[str(p.get("camera", "top"))] = p["bind"]
    bind = "ipc://${run}/page"
    nodes = []
    for n in graph.nodes:
        if isinstance(n.params.get("console"), list):
            n = dataclasses.replace(n, params={**n.params, "console": [*n.params["console"], bind]})
        nodes.append(n)
    params = {
        "bind": bind,
        "host": host,
        "port": port,
        "followers": followers,
        "leaders": leaders,
        "cameras": cameras,
        "console": console,
        "blind": blind,
    }
    # nice 0 like the cameras: the followers run SCHED_FIFO above every nice level anyway.
    nodes.append(NodeSpec(name="page", kind="page", role="sink", on_failure="ignore", nice=0, params=params))
    return dataclasses.replace(graph, nodes=nodes)
