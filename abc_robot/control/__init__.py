"""Per-arm control logic, free of I/O: safety filter, intervention mapping, stats."""

from abc_robot.control.intervention import DeltaPoseMapper
from abc_robot.control.safety import SafetyConfig, SafetyFilter, SafetyResult

__all__ = ["DeltaPoseMapper", "SafetyConfig", "SafetyFilter", "SafetyResult"]
