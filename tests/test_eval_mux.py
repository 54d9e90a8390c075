"""Policy mux: several workers behind one endpoint, only the selected alias forwarded."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from abc_robot.errors import ConfigError
from abc_robot.nodes.policy_mux import PolicyMuxConfig, PolicyMuxNode
from abc_robot.runtime.config import from_dict
from abc_robot.transport.bus import LatestSubscriber, Publisher, Requester
from abc_robot.transport.messages import ActionChunk, Event

from .utils import wait_for


def _chunk(value: float, obs_stamp_ns: int) -> ActionChunk:
    return ActionChunk(
        actions=np.full((4, 14), value),
        t_ns=obs_stamp_ns + np.arange(4, dtype=np.int64) * 33_000_000,
        obs_stamp_ns=obs_stamp_ns,
    )


def _select(req: Requester, alias):
    return req.request("mux/select", Event(kind="mux/select", data={"alias": alias}), timeout_s=2.0)


def test_mux_forwards_only_the_selected_alias_and_only_fresh_chunks(run_dir):
    workers = {a: Publisher(f"ipc://{run_dir}/policy_{a.lower()}", f"policy_{a.lower()}") for a in "AB"}
    cfg = PolicyMuxConfig(
        bind=f"ipc://{run_dir}/policy",
        control=f"ipc://{run_dir}/policy_ctl",
        workers={a: f"ipc://{run_dir}/policy_{a.lower()}" for a in "AB"},
    )
    node = PolicyMuxNode("policy", cfg)
    th = threading.Thread(target=node.run, args=(20.0,), daemon=True)
    th.start()
    follower = LatestSubscriber(cfg.bind, ["policy/chunk"])
    req = Requester(cfg.control, "eval")
    try:
        assert wait_for(lambda: hasattr(node, "subs"), 5.0)
        got: list[ActionChunk] = []

        def pump(seconds: float, stamp_shift_ns: int = 0) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                now = time.monotonic_ns() + stamp_shift_ns
                workers["A"].publish("policy/chunk", _chunk(1.0, now))
                workers["B"].publish("policy/chunk", _chunk(2.0, now))
                m = follower.poll(0.02).get("policy/chunk")
                if isinstance(m, ActionChunk):
                    got.append(m)

        pump(0.5)
        assert got == []  # nothing selected: nothing forwarded
        assert _select(req, "B").data["alias"] == "B"
        pump(0.6)
        assert len(got) > 5 and all(float(c.actions[0, 0]) == 2.0 for c in got)
        # Forwarded chunks do not tell which worker computed them.
        assert {c.source for c in got} == {"policy"}
        assert [c.request_id for c in got] == sorted(c.request_id for c in got)
        got.clear()
        assert _select(req, "A").ok
        pump(0.6, stamp_shift_ns=-2_000_000_000)  # computed before the selection: stale
        assert got == [] and node.status()["dropped_stale"] > 0
        pump(0.6)
        assert got and all(float(c.actions[0, 0]) == 1.0 for c in got)
        rep = _select(req, "Z")
        assert not rep.ok and "valid: ['A', 'B']" in rep.message
        st = node.status()
        assert st["alias"] == "A" and st["aliases"] == ["A", "B"]
        assert not any("ipc://" in str(v) for v in st.values())
    finally:
        node.request_stop()
        th.join(5)
        follower.close()
        req.close()
        for p in workers.values():
            p.close()


def test_mux_config_is_checked():
    with pytest.raises(ConfigError, match="workers"):
        from_dict(PolicyMuxConfig, {"bind": "ipc://x/p", "control": "ipc://x/c", "workers": {}})
    with pytest.raises(ConfigError, match="initial alias"):
        from_dict(
            PolicyMuxConfig,
            {"bind": "ipc://x/p", "control": "ipc://x/c", "workers": {"A": "ipc://x/a"}, "initial": "B"},
        )
