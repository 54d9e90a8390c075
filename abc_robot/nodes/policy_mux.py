"""Policy mux node: several policy workers behind the one endpoint the followers use.

Blind evaluation (``abc-eval``) serves several checkpoints at once, each in its own
policy worker under an anonymous node name and a private endpoint. The mux binds the
fixed endpoint (``ipc://${run}/policy`` in the rollout graph), latest-subscribes
``policy/chunk`` from every worker, and republishes only the chunks of the selected
alias — and only those computed from an observation taken after the selection, so a
chunk of the previous model never reaches an arm. Forwarded chunks carry the mux's own
name as ``source`` and its own ``request_id`` count: nothing downstream (followers,
recorder, console) can tell the workers apart.

Requests on ``control`` (:class:`~abc_robot.transport.Event`, answered with a
:class:`~abc_robot.transport.Reply`):

- ``mux/select``: ``data = {"alias": "B"}``; an unknown alias is refused with the
  valid ones listed. ``{"alias": null}`` selects nothing (nothing is forwarded).
- ``mux/status``: the selected alias and forwarding counts.

The status (heartbeats, console) names only the selected alias.

With ``gate`` set, the mux also publishes the selection as ``mux/active``
(:class:`~abc_robot.transport.Event`, ``data = {"alias": ...}``) on that endpoint, at
once on every change and again every ``gate_period_s``. Workers started with the same
``gate`` and their alias (``PolicyWorkerConfig.gate_alias``) run inference only while
selected, so N checkpoints cost the CPU or GPU of one. The endpoint is internal to the
graph (ipc://); nothing on it reaches the operator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from abc_robot.runtime.node import Node
from abc_robot.transport.bus import LatestSubscriber
from abc_robot.transport.messages import ActionChunk, Event, Message, Reply

__all__ = ["PolicyMuxNode", "PolicyMuxConfig", "TOPIC"]

TOPIC = "policy/chunk"


@dataclass(frozen=True)
class PolicyMuxConfig:
    """Policy mux settings (launch file ``params``).

    Attributes:
        bind: the fixed endpoint the followers subscribe to for ``policy/chunk``.
        control: request endpoint for ``mux/select`` and ``mux/status``.
        workers: alias → the endpoint that alias's worker publishes on.
        initial: alias selected at start ("" = none: nothing is forwarded).
        gate: endpoint on which the selection is published for gated workers ("" = none).
        gate_period_s: the selection is repeated this often [s] (late subscribers).
        rate_hz: loop rate [Hz]; the mux also wakes on every worker's socket, so a
            chunk is forwarded within microseconds of its arrival.
    """

    bind: str
    control: str
    workers: dict[str, str] = field(default_factory=dict)
    initial: str = ""
    gate: str = ""
    gate_period_s: float = 0.1
    rate_hz: float = 200.0

    def __post_init__(self) -> None:
        if not self.workers:
            raise ValueError("workers must map at least one alias to a worker endpoint")
        if self.initial and self.initial not in self.workers:
            raise ValueError(f"initial alias {self.initial!r} is not one of {sorted(self.workers)}")
        if self.bind in self.workers.values():
            raise ValueError(f"bind {self.bind!r} is also a worker endpoint")
        if self.gate and self.gate in (self.bind, *self.workers.values()):
            raise ValueError(f"gate {self.gate!r} is also the bind or a worker endpoint")
        if self.rate_hz <= 0 or self.gate_period_s <= 0:
            raise ValueError("rate_hz and gate_period_s must be positive")


class PolicyMuxNode(Node):
    Config = PolicyMuxConfig

    def setup(self) -> None:
        cfg: PolicyMuxConfig = self.config
        self.pub = self.publisher(cfg.bind)
        self.gate_pub = self.publisher(cfg.gate) if cfg.gate else None
        self.gate_sent_ns = 0
        self.ctl = self.replier(cfg.control)
        # One subscriber per worker: which alias a chunk came from is known by socket,
        # not by anything the worker writes into the message.
        self.subs: dict[str, LatestSubscriber] = {a: self.latest(ep, [TOPIC]) for a, ep in sorted(cfg.workers.items())}
        for sub in self.subs.values():
            self.loop.wake_on(sub.socket)
        self.loop.wake_on(self.ctl.socket)
        self.alias: str | None = None
        self.selected_ns = 0
        self.forwarded = 0
        self.forwarded_since_select = 0
        self.dropped_stale = 0
        self.selections = 0
        if cfg.initial:
            self._select(cfg.initial)

    def _select(self, alias: str | None) -> None:
        self.alias = alias
        self.selected_ns = time.monotonic_ns()
        self.forwarded_since_select = 0
        self.selections += 1
        self._announce(self.selected_ns)

    def _announce(self, now_ns: int) -> None:
        if getattr(self, "gate_pub", None) is None:
            return
        assert self.gate_pub is not None
        self.gate_pub.publish("mux/active", Event(kind="mux/active", data={"alias": self.alias}))
        self.gate_sent_ns = now_ns

    def _handle(self, topic: str, msg: Message) -> Reply:
        if topic == "mux/select":
            alias = msg.data.get("alias") if isinstance(msg, Event) else None
            if alias is not None and alias not in self.subs:
                return Reply(ok=False, message=f"unknown alias {alias!r}; valid: {sorted(self.subs)}")
            self._select(alias)
            return Reply(ok=True, message=f"selected {alias}", data={"alias": alias, "selected_ns": self.selected_ns})
        if topic == "mux/status":
            return Reply(ok=True, message="status", data=self.status())
        return Reply(ok=False, message=f"unknown request {topic!r}; valid: mux/select, mux/status")

    def step(self, now_ns: int) -> None:
        self.ctl.serve(self._handle)
        if now_ns - self.gate_sent_ns >= self.config.gate_period_s * 1e9:
            self._announce(now_ns)
        for alias, sub in self.subs.items():
            got = sub.poll().get(TOPIC)
            if alias != self.alias or not isinstance(got, ActionChunk):
                continue  # other workers' chunks are drained and dropped
            if got.obs_stamp_ns < self.selected_ns:
                self.dropped_stale += 1  # computed before the selection: not this trial's
                continue
            got.source = self.name
            got.request_id = self.forwarded
            got.seq = 0
            self.pub.publish(TOPIC, got)
            self.forwarded += 1
            self.forwarded_since_select += 1

    def status(self) -> dict[str, Any]:
        return {
            "alias": getattr(self, "alias", None),
            "aliases": sorted(getattr(self, "subs", {})),
            "forwarded": getattr(self, "forwarded", 0),
            "forwarded_since_select": getattr(self, "forwarded_since_select", 0),
            "dropped_stale": getattr(self, "dropped_stale", 0),
            "selections": getattr(self, "selections", 0),
        }
