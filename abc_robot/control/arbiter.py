"""The follower's mode arbiter: who drives the arm, and when it must hold. No I/O.

Modes (see :data:`abc_robot.transport.messages.MODES`):

- ``TELEOP``: the leader's pose drives the arm. On entering TELEOP, and after any
  hold, the arm *engages* (ramps to the leader's pose at the slower engage speed); a
  leader pose the follower's IK misses by more than ``engage_max_error_m`` is refused
  and the arm holds.
- ``POLICY``: the policy's chunks drive the arm; leader motion beyond
  ``intervene_motion_threshold_m`` since POLICY began takes over (INTERVENE).
- ``INTERVENE``: delta-pose correction from the leader, starting from the current
  pose (no engage ramp).
- ``HOLD``: keeps the last command. ``ESTOP``: latched; only ``HOLD`` clears it.

The watchdog: leader input whose sample stamp is older than ``stale_timeout_ms``
makes TELEOP/INTERVENE hold until fresh input arrives, then the arm re-engages.

The arbiter is given the time (``now_ns``, monotonic) by its caller and never reads a
clock, a socket or a device: the follower node feeds it what it read and carries out
the :class:`Transition` it returns (anchoring the intervention mapper, dropping the
executing chunk, announcing a takeover).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from abc_robot.transport.messages import MODES

__all__ = ["ArbiterConfig", "ModeArbiter", "Plan", "Transition"]

#: What the follower does this tick: hold the last command, or follow a source.
Plan = Literal["hold", "operator", "intervention", "policy"]


@dataclass(frozen=True)
class ArbiterConfig:
    """Mode arbitration settings (from the follower's config).

    Attributes:
        initial_mode: the mode requested at start (the arm holds until its source is fresh).
        stale_timeout_ms: watchdog: leader input older than this → hold [ms].
        engage_tolerance_rad: engaged once every joint is this close to its target [rad].
        engage_max_error_m: refuse to engage a leader pose the IK misses by more [m].
        intervene_motion_threshold_m: leader motion during POLICY that triggers
            INTERVENE [m] (0 disables the motion trigger).
    """

    initial_mode: Literal["TELEOP", "POLICY", "HOLD"] = "TELEOP"
    stale_timeout_ms: float = 50.0
    engage_tolerance_rad: float = 0.03
    engage_max_error_m: float = 0.03
    intervene_motion_threshold_m: float = 0.02

    def __post_init__(self) -> None:
        if self.stale_timeout_ms <= 0:
            raise ValueError("stale_timeout_ms must be positive")
        if self.initial_mode not in ("TELEOP", "POLICY", "HOLD"):
            raise ValueError(f"initial_mode must be TELEOP, POLICY or HOLD, got {self.initial_mode!r}")


@dataclass(frozen=True)
class Transition:
    """A granted mode request, for the caller to carry out.

    Attributes:
        old: the previously requested mode.
        new: the newly requested mode (may equal ``old``: a repeated request still resets).
        reason: why (for the log and the announcement).
        takeover: entering INTERVENE: anchor the delta-pose mapper now.
        release: leaving INTERVENE: release the mapper.
        policy_start: entering (or re-entering) POLICY: drop the executing chunk and
            wait for one computed from an observation taken from now on.
    """

    old: str
    new: str
    reason: str = ""

    @property
    def takeover(self) -> bool:
        return self.new == "INTERVENE" and self.old != "INTERVENE"

    @property
    def release(self) -> bool:
        return self.old == "INTERVENE" and self.new != "INTERVENE"

    @property
    def announce(self) -> bool:
        """The intervention state changed (followers announce it to their pair)."""
        return self.takeover or self.release

    @property
    def policy_start(self) -> bool:
        return self.new == "POLICY"


def _no_log(msg: str) -> None:
    pass


class ModeArbiter:
    """Requested mode, effective mode, the watchdog, engage and refusal.

    Args:
        config: settings.
        log: where operator-facing messages go (the node's log; default: dropped).
    """

    def __init__(self, config: ArbiterConfig | None = None, log: Callable[[str], None] = _no_log) -> None:
        self.config = config or ArbiterConfig()
        self._log = log
        self.requested: str = self.config.initial_mode
        self.mode = "HOLD"  # the effective mode this tick
        self.hold_reason = "waiting for the arm's first state"
        self.engaging = True
        self.watchdog_trips = 0
        self.engage_refusals = 0
        self.interventions = 0
        self.intervention_ns = 0
        self.intervene_started_ns = 0
        self.policy_since_ns = 0  # chunks computed from observations before this are stale
        self._p_leader_ref: np.ndarray | None = None

    # ---- requests --------------------------------------------------------------------
    def request(self, mode: str, now_ns: int, reason: str = "", have_leader: bool = True) -> Transition | None:
        """Request ``mode``; returns the transition, or None if refused (logged).

        Refused: an unknown mode, anything but HOLD while ESTOP is latched, INTERVENE
        with no leader data ever received (``have_leader`` False).
        """
        if mode not in MODES:
            self._log(f"ignored unknown mode {mode!r}; valid: {MODES}")
            return None
        if self.requested == "ESTOP" and mode != "HOLD":
            self._log(f"ESTOP is latched; send HOLD to clear it (refused {mode})")
            return None
        if mode == "INTERVENE" and not have_leader:
            self._log("INTERVENE refused: no leader data")
            return None
        tr = Transition(self.requested, mode, reason)
        if mode != self.requested:
            self._log(f"mode {self.requested} -> {mode}{' (' + reason + ')' if reason else ''}")
        if tr.takeover:
            self.interventions += 1
            self.intervene_started_ns = now_ns
        elif tr.release:
            self.intervention_ns += now_ns - self.intervene_started_ns
        if tr.policy_start:
            self.policy_since_ns = now_ns
            self._p_leader_ref = None
        self.requested = mode
        # Operator sources engage with a ramp; INTERVENE starts from the current pose.
        self.engaging = mode != "INTERVENE"
        return tr

    def console_event(self, kind: str, now_ns: int, reason: str = "console") -> Transition | None:
        """A console ``intervene_on`` / ``intervene_off`` for this arm (others are ignored)."""
        if kind == "intervene_on" and self.requested == "POLICY":
            return self.request("INTERVENE", now_ns, reason)
        if kind == "intervene_off" and self.requested == "INTERVENE":
            return self.request("POLICY", now_ns, reason)
        return None

    def pair_event(self, kind: str, other_mode: str, now_ns: int) -> Transition | None:
        """The other arm's takeover or release (``intervene_together``).

        Only a hand-back is mirrored: a hold or e-stop of the other arm reaches this one
        through its own console, not through the pair.
        """
        if kind == "intervene_on" and self.requested == "POLICY":
            return self.request("INTERVENE", now_ns, "the other arm was taken over")
        if kind == "intervene_off" and other_mode == "POLICY" and self.requested == "INTERVENE":
            return self.request("POLICY", now_ns, "the other arm was handed back")
        return None

    @property
    def wants_leader_wake(self) -> bool:
        """Only the operator's modes need a step on every leader sample."""
        return self.requested in ("TELEOP", "INTERVENE")

    @property
    def estop(self) -> bool:
        return self.requested == "ESTOP"

    # ---- the tick --------------------------------------------------------------------
    def leader_fresh(self, stamp_ns: int, now_ns: int) -> bool:
        """The watchdog's test, on the sample's own stamp: a stalled or dead leader
        process, a frozen reader or a slow link all make it old."""
        return now_ns - stamp_ns <= self.config.stale_timeout_ms * 1e6

    def plan(
        self, now_ns: int, leader_fresh: bool, had_leader: bool, p_leader: np.ndarray | None = None
    ) -> tuple[Plan, Transition | None]:
        """What drives the arm this tick.

        Args:
            now_ns: the tick's time [ns, monotonic].
            leader_fresh: the newest leader sample passed :meth:`leader_fresh`.
            had_leader: a leader sample was ever received (a watchdog trip is counted
                only when input that existed went stale).
            p_leader: the fresh leader's position in the follower's base frame [m]
                (for the motion trigger in POLICY).

        Returns:
            The plan, and the transition made on the way (POLICY → INTERVENE when the
            leader moved), which the caller carries out before following the plan.
        """
        mode = self.requested
        if mode in ("HOLD", "ESTOP"):
            self.mode, self.hold_reason = mode, "" if mode == "HOLD" else "e-stop latched"
            return "hold", None
        if mode in ("TELEOP", "INTERVENE"):
            if not leader_fresh:
                if self.mode != "HOLD" and had_leader:
                    self.watchdog_trips += 1
                    self._log(f"watchdog: leader input stale > {self.config.stale_timeout_ms:.0f} ms, holding")
                self.hold("leader input stale or absent")
                self.engaging = True
                return "hold", None
            return ("intervention" if mode == "INTERVENE" else "operator"), None
        # POLICY
        if leader_fresh and p_leader is not None and self._leader_moved(p_leader):
            tr = self.request("INTERVENE", now_ns, "leader moved")
            return "intervention", tr
        return "policy", None

    def _leader_moved(self, p_leader: np.ndarray) -> bool:
        thr = self.config.intervene_motion_threshold_m
        if thr <= 0:
            return False
        if self._p_leader_ref is None:
            self._p_leader_ref = np.array(p_leader, dtype=float)
            return False
        return float(np.linalg.norm(np.asarray(p_leader) - self._p_leader_ref)) > thr

    def accept_target(self, pos_err_m: float) -> bool:
        """Engage refusal: while engaging, a leader target the IK misses by more than
        ``engage_max_error_m`` is refused (the arm holds)."""
        if self.engaging and pos_err_m > self.config.engage_max_error_m:
            self.engage_refusals += 1
            if self.engage_refusals in (1, 100, 1000):
                self._log(f"refusing to engage: the leader pose is {pos_err_m * 1e3:.0f} mm out of the follower's reach")
            self.hold("leader pose unreachable")
            return False
        return True

    def following(self) -> None:
        """The requested source drives the arm this tick."""
        self.mode, self.hold_reason = self.requested, ""

    def hold(self, reason: str) -> None:
        """Hold this tick (the requested mode stays)."""
        self.mode, self.hold_reason = "HOLD", reason

    def estopped(self) -> None:
        self.mode, self.hold_reason = "ESTOP", "e-stop latched (send HOLD to clear)"

    def reanchor(self) -> None:
        """Commands start again from the measured pose: engage anew."""
        self.engaging = True

    def commanded(self, max_err_rad: float, following: bool) -> None:
        """After a command: engaged once it is within tolerance of the source's target."""
        if self.engaging and following and max_err_rad < self.config.engage_tolerance_rad:
            self.engaging = False
            self._log(f"engaged ({self.mode})")

    # ---- figures ---------------------------------------------------------------------
    def intervention_s(self, now_ns: int) -> float:
        """Total time spent intervening [s], the current intervention included."""
        ns = self.intervention_ns + (now_ns - self.intervene_started_ns if self.requested == "INTERVENE" else 0)
        return ns / 1e9

    def status(self, now_ns: int) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "requested_mode": self.requested,
            "hold_reason": self.hold_reason,
            "engaged": not self.engaging,
            "watchdog_trips": self.watchdog_trips,
            "interventions": self.interventions,
            "intervention_s": self.intervention_s(now_ns),
        }
