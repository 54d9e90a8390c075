"""Preflight: is everything the rig names there, and configured as the rig needs it?

``abc-rig check R`` runs :func:`run_preflight` and prints its table; every ``--rig``
command runs it first and refuses to start on a failure (``--skip-check`` overrides).
Each check yields :class:`CheckResult` rows: ``pass``, ``fail`` (refuses, with the
fix), ``warn`` (works, but not as well as it should) or ``skip`` (does not apply, with
why). The device checks talk to the devices through the same drivers the graph uses
(dynamixel-sdk, python-can, pyrealsense2/OpenCV, pyserial), and leave every motor's
torque as it found it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from abc_robot.rig.schema import RigConfig

__all__ = ["CheckResult", "PreflightOptions", "PreflightReport", "run_preflight", "CHECKS"]

Status = Literal["pass", "fail", "warn", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """One row of the preflight table.

    Attributes:
        device: what was checked (``leader left``, ``camera top``, ``disk``...).
        check: which property (``latency timer``, ``servos``, ``resolution``...).
        status: ``pass``, ``fail``, ``warn`` or ``skip``.
        detail: what was found.
        fix: what to do about a failure or a warning (a command where there is one).
    """

    device: str
    check: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class PreflightOptions:
    """Attributes:
    devices: talk to the devices (ping servos, probe motors, open cameras); False checks
        files, ports, interfaces and the host only.
    camera_s: [s] how long each camera is read to measure its frame size and rate.
    fps_tolerance: accepted relative shortfall of a camera's measured frame rate.
    reply_timeout_s: [s] wait for a motor's or a servo's answer.
    """

    devices: bool = True
    camera_s: float = 2.0
    fps_tolerance: float = 0.15
    reply_timeout_s: float = 0.05


@dataclass
class PreflightReport:
    """All rows of one preflight run."""

    rig: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No row failed (warnings and skips do not refuse)."""
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    def table(self, *, only_problems: bool = False) -> str:
        """A plain-text table (device, check, status, detail), the fix under each problem."""
        rows = [r for r in self.results if not only_problems or r.status in ("fail", "warn")]
        w_dev = max([len(r.device) for r in rows] + [6])
        w_chk = max([len(r.check) for r in rows] + [5])
        lines = [f"{'device':<{w_dev}}  {'check':<{w_chk}}  status  detail"]
        for r in rows:
            lines.append(f"{r.device:<{w_dev}}  {r.check:<{w_chk}}  {r.status.upper():<6}  {r.detail}")
            if r.fix and r.status in ("fail", "warn"):
                lines.append(f"{'':<{w_dev}}  {'':<{w_chk}}  {'':<6}  fix: {r.fix}")
        n_fail = len(self.failures)
        n_warn = sum(r.status == "warn" for r in self.results)
        verdict = "PASS" if self.ok else "FAIL"
        lines.append(f"rig {self.rig}: {verdict} ({len(self.results)} checks, {n_fail} failed, {n_warn} warnings)")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {"rig": self.rig, "ok": self.ok, "results": [r.__dict__ for r in self.results]}


Check = Callable[[RigConfig, PreflightOptions], Iterator[CheckResult]]


def _checks() -> list[Check]:
    from abc_robot.rig import checks

    return [
        checks.calibration_files,
        checks.serial_ports,
        checks.latency_timers,
        checks.can_interfaces,
        checks.dynamixel_servos,
        checks.damiao_motors,
        checks.console_board,
        checks.cameras,
        checks.disk_space,
        checks.scheduling,
    ]


#: The checks in the order they run (files and host first, then the devices).
CHECKS: Callable[[], list[Check]] = _checks


def run_preflight(rig: RigConfig, options: PreflightOptions | None = None) -> PreflightReport:
    """Run every check on ``rig``; a check that raises becomes a failed row naming the error."""
    opts = options or PreflightOptions()
    report = PreflightReport(rig.name)
    for check in CHECKS():
        try:
            report.results.extend(check(rig, opts))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others' rows
            name = check.__name__.replace("_", " ")
            report.results.append(
                CheckResult(name, "check", "fail", f"the check itself failed: {exc!r}", "report this")
            )
    return report
