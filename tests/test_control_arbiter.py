"""The follower's mode arbiter, in-process with a fake clock: every transition of
TELEOP / POLICY / INTERVENE / HOLD / ESTOP, the watchdog, engage and refusal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abc_robot.control.arbiter import ArbiterConfig, ModeArbiter, Transition
from abc_robot.transport.messages import MODES

MS = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.t = 1_000 * MS

    def __call__(self, dt_ms: float = 0.0) -> int:
        self.t += int(dt_ms * MS)
        return self.t


def arbiter(**kw: object) -> tuple[ModeArbiter, list[str]]:
    logs: list[str] = []
    return ModeArbiter(ArbiterConfig(**kw), log=logs.append), logs  # type: ignore[arg-type]


def test_starts_holding_in_the_requested_mode() -> None:
    arb, _ = arbiter(initial_mode="POLICY")
    assert arb.requested == "POLICY" and arb.mode == "HOLD" and arb.engaging
    assert not arb.wants_leader_wake


def test_teleop_follows_a_fresh_leader_and_engages_within_tolerance() -> None:
    arb, logs = arbiter()
    now = Clock()
    plan, tr = arb.plan(now(4), leader_fresh=True, had_leader=True)
    assert (plan, tr) == ("operator", None)
    assert arb.accept_target(0.001)
    arb.following()
    assert arb.mode == "TELEOP" and arb.hold_reason == ""
    arb.commanded(0.5, following=True)  # still ramping
    assert arb.engaging
    arb.commanded(0.01, following=True)
    assert not arb.engaging and logs[-1] == "engaged (TELEOP)"


def test_watchdog_holds_on_stale_input_counts_the_trip_and_reengages() -> None:
    arb, logs = arbiter(stale_timeout_ms=50)
    now = Clock()
    t = now()
    assert arb.leader_fresh(t - 50 * MS, t) and not arb.leader_fresh(t - 51 * MS, t)
    arb.plan(t, True, True)
    arb.following()
    arb.commanded(0.0, True)
    plan, _ = arb.plan(now(60), leader_fresh=False, had_leader=True)
    assert plan == "hold" and arb.mode == "HOLD" and arb.hold_reason == "leader input stale or absent"
    assert arb.watchdog_trips == 1 and arb.engaging and "watchdog" in logs[-1]
    arb.plan(now(4), False, True)  # still stale: the trip is counted once
    assert arb.watchdog_trips == 1
    assert arb.plan(now(4), True, True)[0] == "operator"


def test_no_watchdog_trip_before_any_leader_data() -> None:
    arb, _ = arbiter()
    arb.mode = "TELEOP"
    assert arb.plan(Clock()(), False, had_leader=False)[0] == "hold"
    assert arb.watchdog_trips == 0


def test_unreachable_target_is_refused_only_while_engaging() -> None:
    arb, logs = arbiter(engage_max_error_m=0.03)
    assert not arb.accept_target(0.05)
    assert arb.mode == "HOLD" and arb.hold_reason == "leader pose unreachable" and arb.engage_refusals == 1
    assert "50 mm" in logs[-1]
    arb.commanded(0.0, True)
    assert arb.accept_target(0.05)  # engaged: tracking error is the IK's business


def test_hold_and_estop_latch() -> None:
    arb, logs = arbiter()
    now = Clock()
    assert arb.request("ESTOP", now()) == Transition("TELEOP", "ESTOP")
    assert arb.estop and arb.plan(now(), True, True)[0] == "hold"
    assert arb.hold_reason == "e-stop latched"
    for mode in ("TELEOP", "POLICY", "INTERVENE", "ESTOP"):
        assert arb.request(mode, now()) is None
        assert "latched" in logs[-1]
    assert arb.request("HOLD", now()) is not None and not arb.estop
    assert arb.plan(now(), True, True)[0] == "hold" and arb.mode == "HOLD" and arb.hold_reason == ""
    arb.estopped()
    assert arb.mode == "ESTOP"


def test_unknown_mode_and_intervene_without_leader_are_refused() -> None:
    arb, logs = arbiter()
    assert arb.request("FLY", Clock()()) is None and "valid" in logs[-1]
    assert arb.request("INTERVENE", Clock()(), have_leader=False) is None
    assert arb.requested == "TELEOP"


def test_policy_intervene_policy_round_trip_with_accounting() -> None:
    arb, _ = arbiter(initial_mode="POLICY")
    now = Clock()
    t0 = now()
    tr = arb.request("POLICY", t0)
    assert tr is not None and tr.policy_start and not tr.announce and arb.policy_since_ns == t0
    assert arb.plan(now(4), True, True, np.zeros(3))[0] == "policy"
    tr = arb.console_event("intervene_on", now(10))
    assert tr is not None and tr.takeover and tr.announce and not tr.policy_start
    assert arb.requested == "INTERVENE" and not arb.engaging and arb.wants_leader_wake
    assert arb.plan(now(4), True, True)[0] == "intervention"
    assert arb.intervention_s(now(500)) == pytest.approx(0.504)
    tr = arb.console_event("intervene_off", now())
    assert tr is not None and tr.release and tr.policy_start and arb.policy_since_ns == now()
    assert arb.interventions == 1 and arb.intervention_s(now(1000)) == pytest.approx(0.504)
    assert arb.console_event("intervene_off", now()) is None  # not intervening
    assert arb.engaging  # back to POLICY: the chunk blend ramps in


def test_leader_motion_in_policy_takes_over() -> None:
    arb, _ = arbiter(initial_mode="POLICY", intervene_motion_threshold_m=0.02)
    now = Clock()
    arb.request("POLICY", now())
    p = np.array([0.3, 0.0, 0.2])
    assert arb.plan(now(4), True, True, p)[0] == "policy"  # the reference
    assert arb.plan(now(4), True, True, p + [0.015, 0, 0])[0] == "policy"
    assert arb.plan(now(4), False, True, p + [0.05, 0, 0])[0] == "policy"  # stale: ignored
    plan, tr = arb.plan(now(4), True, True, p + [0.0, 0.025, 0])
    assert plan == "intervention" and tr is not None and tr.takeover and tr.reason == "leader moved"
    assert arb.requested == "INTERVENE" and arb.interventions == 1


def test_motion_trigger_off_and_reference_reset_on_policy_entry() -> None:
    arb, _ = arbiter(initial_mode="POLICY", intervene_motion_threshold_m=0.0)
    now = Clock()
    assert arb.plan(now(), True, True, np.zeros(3))[0] == "policy"
    assert arb.plan(now(), True, True, np.ones(3))[0] == "policy"
    arb2, _ = arbiter(initial_mode="POLICY")
    arb2.plan(now(), True, True, np.zeros(3))
    arb2.request("POLICY", now())  # a new POLICY entry takes a new reference
    assert arb2.plan(now(), True, True, np.ones(3))[0] == "policy"


def test_pair_events_mirror_takeover_and_only_a_hand_back() -> None:
    arb, _ = arbiter(initial_mode="POLICY")
    now = Clock()
    assert arb.pair_event("intervene_off", "POLICY", now()) is None
    tr = arb.pair_event("intervene_on", "INTERVENE", now())
    assert tr is not None and tr.takeover and arb.requested == "INTERVENE"
    assert arb.pair_event("intervene_off", "HOLD", now()) is None  # the other arm held: not mirrored
    tr = arb.pair_event("intervene_off", "POLICY", now())
    assert tr is not None and tr.release and arb.requested == "POLICY"


def test_teleop_engages_with_a_ramp_intervene_without() -> None:
    arb, _ = arbiter()
    now = Clock()
    arb.commanded(0.0, True)
    arb.request("HOLD", now())
    assert arb.engaging
    arb.request("POLICY", now())
    arb.request("INTERVENE", now())
    assert not arb.engaging
    arb.reanchor()
    assert arb.engaging


def test_status_names_the_figures() -> None:
    arb, _ = arbiter()
    st = arb.status(Clock()())
    assert st == {
        "mode": "HOLD",
        "requested_mode": "TELEOP",
        "hold_reason": "waiting for the arm's first state",
        "engaged": False,
        "watchdog_trips": 0,
        "interventions": 0,
        "intervention_s": 0.0,
    }


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        ArbiterConfig(stale_timeout_ms=0)
    with pytest.raises(ValueError):
        ArbiterConfig(initial_mode="ESTOP")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(MODES + ("BOGUS",)), max_size=12))
def test_estop_is_left_only_through_hold(requests: list[str]) -> None:
    arb, _ = arbiter()
    now = Clock()
    for mode in requests:
        was_estop = arb.estop
        tr = arb.request(mode, now(1))
        if was_estop:
            assert arb.estop == (mode != "HOLD" or tr is None)
        assert (tr is None) or arb.requested == mode
