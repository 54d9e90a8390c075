"""Calibration of the rig's devices: GELLO leader arms (files, procedure, ``abc-calibrate``)."""

from abc_robot.calibration.procedure import (
    ConsoleOperator,
    ImmediateOperator,
    Operator,
    calibrate_leader,
    fit_offsets,
    measure_signs,
    verify_calibration,
)
from abc_robot.calibration.schema import (
    SCHEMA_VERSION,
    LeaderCalibration,
    LeaderRigConfig,
    load_leader_calibration,
    load_leader_rig,
    save_leader_calibration,
)

__all__ = [
    "SCHEMA_VERSION",
    "LeaderCalibration",
    "LeaderRigConfig",
    "load_leader_calibration",
    "load_leader_rig",
    "save_leader_calibration",
    "Operator",
    "ConsoleOperator",
    "ImmediateOperator",
    "calibrate_leader",
    "fit_offsets",
    "measure_signs",
    "verify_calibration",
]
