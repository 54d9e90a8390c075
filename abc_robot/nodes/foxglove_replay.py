"""A recorded episode served to Foxglove with playback control (``abc-replay EP --view``).

:class:`EpisodePlayer` opens a training-layout episode and serves, over foxglove-sdk's
WebSocket server with the playback-control capability (Foxglove's play/pause, speed
and seek bar), the same topics a live graph's ``--view`` does: ``/camera/<name>``
(JPEG of each recorded view), ``/joint_states/<arm>`` (recorded state and action),
``/tf`` (the arms' links from the recorded joints), ``/<arm>/robot_description`` and
``/log`` (control-source changes and the outcome). Message times are the rows' tick
times on the Unix clock, so the seek bar spans the episode. A seek publishes the
sought row at once; playing publishes every row as its time comes, at the asked speed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from abc_robot.nodes.foxglove_node import _JOINTS_SCHEMA, _TEXT_SCHEMA, _ArmFrames, _fm, _stamp, _tf

__all__ = ["EpisodePlayer"]


def _listener(player: EpisodePlayer) -> Any:
    """A foxglove ServerListener handing playback requests to ``player`` (the rest: defaults)."""
    from foxglove.websocket import ServerListener

    class _Listener(ServerListener):
        def on_playback_control_request(self, request: Any) -> Any:
            return player.on_playback_control_request(request)

    return _Listener()


class EpisodePlayer:
    """Serves one episode to Foxglove clients.

    Args:
        episode: an ``episode_<uuid>`` directory (training layout).
        host, port: where the WebSocket server listens (loopback by default).
        layout: the bimanual layout file (arm bases, URDFs).
        jpeg_quality: JPEG quality of the views (1-100).
    """

    def __init__(
        self,
        episode: str | Path,
        host: str = "127.0.0.1",
        port: int = 8765,
        layout: str = "bimanual.yaml",
        jpeg_quality: int = 80,
    ) -> None:
        import foxglove
        import foxglove.channels as ch
        from foxglove.websocket import Capability

        from abc_robot.recording import EpisodeReader
        from abc_robot.sim.layout import BimanualLayout

        self.ep = EpisodeReader(episode)
        meta = self.ep.metadata
        t0 = int(self.ep.t0_ns)
        self.offset_ns = 0 if t0 > 10**18 else int(meta.get("created_unix_ns", time.time_ns())) - t0
        self.tick_ns = int(self.ep.tick_ns)
        self.start_ns = t0 + self.offset_ns
        self.end_ns = self.start_ns + (self.ep.num_steps - 1) * self.tick_ns
        self.arms = list(meta.get("arms", ["left", "right"]))
        lay = BimanualLayout.load(layout)
        self.frames = {a: _ArmFrames(a, lay.arms[a].urdf, lay.arms[a].T_world_base) for a in self.arms if a in lay.arms}
        self.jpeg_quality = jpeg_quality
        self.fm = _fm()
        self.lock = threading.Lock()
        self.k = 0
        self.playing = False
        self.speed = 1.0
        self.published = 0
        self.ctx = foxglove.Context()
        self.server = foxglove.start_server(
            name=f"abc_robot replay {self.ep.path.name}",
            host=host,
            port=port,
            context=self.ctx,
            capabilities=[Capability.PlaybackControl, Capability.Time],
            server_listener=_listener(self),
            playback_time_range=(self.start_ns, self.end_ns),
        )
        self.port = self.server.port
        self.ch_cam = {c: ch.CompressedImageChannel(f"/camera/{c}", context=self.ctx) for c in self.ep.cameras}
        self.ch_joints = {
            a: foxglove.Channel(f"/joint_states/{a}", schema=_JOINTS_SCHEMA, context=self.ctx) for a in self.arms
        }
        self.ch_urdf = {
            a: foxglove.Channel(f"/{a}/robot_description", schema=_TEXT_SCHEMA, context=self.ctx) for a in self.frames
        }
        self.ch_tf = ch.FrameTransformsChannel("/tf", context=self.ctx)
        self.ch_log = ch.LogChannel("/log", context=self.ctx)
        self.sources = self.ep.control_sources

    # ---- playback control (foxglove ServerListener) ------------------------------------
    def on_playback_control_request(self, request: Any) -> Any:
        """Play / pause / speed / seek from the Foxglove app; returns the new state."""
        from foxglove.websocket import PlaybackCommand

        did_seek = request.seek_time is not None
        with self.lock:
            if did_seek:
                self.k = self.index_at(int(request.seek_time))
            self.playing = request.playback_command == PlaybackCommand.Play
            if request.playback_speed and request.playback_speed > 0:
                self.speed = float(request.playback_speed)
        if did_seek:
            self.publish(self.k)
        return self.state(request.request_id, did_seek)

    def state(self, request_id: str | None = None, did_seek: bool = False) -> Any:
        from foxglove.websocket import PlaybackState, PlaybackStatus

        if self.k >= self.ep.num_steps - 1 and not self.playing:
            status = PlaybackStatus.Ended
        else:
            status = PlaybackStatus.Playing if self.playing else PlaybackStatus.Paused
        return PlaybackState(
            status=status,
            current_time=self.time_of(self.k),
            playback_speed=self.speed,
            did_seek=did_seek,
            request_id=request_id,
        )

    def index_at(self, unix_ns: int) -> int:
        """The row shown at a time: the latest at or before it (clamped to the episode)."""
        return int(np.clip((unix_ns - self.start_ns) // self.tick_ns, 0, self.ep.num_steps - 1))

    def time_of(self, k: int) -> int:
        return self.start_ns + k * self.tick_ns

    def seek(self, unix_ns: int) -> int:
        """Seek to a time (what the seek bar does); returns the row now shown."""
        with self.lock:
            self.k = self.index_at(unix_ns)
        self.publish(self.k)
        return self.k

    # ---- publishing ---------------------------------------------------------------------
    def publish(self, k: int) -> None:
        """Send row ``k``: its views, joints, link frames (and a log line where control changes)."""
        import cv2

        fm, t = self.fm, self.time_of(k)
        ts = _stamp(fm, t)
        frame = self.ep.frame(k)
        size = frame.shape[1]
        for c, cam in enumerate(self.ep.cameras):
            view = np.ascontiguousarray(frame[c * size : (c + 1) * size, :, ::-1])
            ok, jpg = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if ok:
                self.ch_cam[cam].log(
                    fm.CompressedImage(timestamp=ts, frame_id=cam, data=jpg.tobytes(), format="jpeg"), log_time=t
                )
        state, action = self.ep.states[k], self.ep.actions[k]
        tfs = []
        for i, arm in enumerate(self.arms):
            q, a = state[7 * i : 7 * i + 7], action[7 * i : 7 * i + 7]
            msg = {
                "stamp_ns": t,
                "name": [f"joint{j + 1}" for j in range(6)] + ["gripper"],
                "position": q.tolist(),
                "velocity": [],
                "effort": [],
                "command": a.tolist(),
                "mode": "",
                "control_source": self.sources[k] if k < len(self.sources) else "",
            }
            self.ch_joints[arm].log(msg, log_time=t)
            if arm in self.frames:
                tfs += self.frames[arm].transforms(q[:6])
                self.ch_urdf[arm].log({"data": self.frames[arm].urdf_text}, log_time=t)
        if tfs:
            self.ch_tf.log(fm.FrameTransforms(transforms=[_tf(fm, ts, p, c, T) for p, c, T in tfs]), log_time=t)
        if k < len(self.sources) and (k == 0 or self.sources[k] != self.sources[k - 1]):
            self.ch_log.log(
                fm.Log(timestamp=ts, level=fm.LogLevel.Info, message=f"control: {self.sources[k]}", name="replay"),
                log_time=t,
            )
        if k == self.ep.num_steps - 1:
            self.ch_log.log(
                fm.Log(timestamp=ts, level=fm.LogLevel.Info, message=f"outcome: {self.ep.outcome}", name="replay"),
                log_time=t,
            )
        self.server.broadcast_time(t)
        self.published += 1

    def run(self, duration_s: float | None = None, autoplay: bool = True, stop: threading.Event | None = None) -> None:
        """Serve until ``stop`` is set or ``duration_s`` passes; plays from the start when ``autoplay``."""
        stop = stop or threading.Event()
        with self.lock:
            self.playing = autoplay
        self.publish(self.k)
        end = None if duration_s is None else time.monotonic() + duration_s
        next_ns = time.monotonic_ns()
        while not stop.is_set() and (end is None or time.monotonic() < end):
            with self.lock:
                playing, speed = self.playing, self.speed
            if not playing:
                stop.wait(0.05)
                next_ns = time.monotonic_ns()
                continue
            next_ns += int(self.tick_ns / speed)
            delay = (next_ns - time.monotonic_ns()) / 1e9
            if delay > 0:
                stop.wait(delay)
            with self.lock:
                if self.k < self.ep.num_steps - 1:
                    self.k += 1
                    k = self.k
                else:
                    self.playing, k = False, -1
            if k >= 0:
                self.publish(k)
            else:
                self.server.broadcast_playback_state(self.state())

    def close(self) -> None:
        self.server.stop()
        self.ep.close()
