"""``abc-calibrate``: calibrate a GELLO leader arm, or check a calibration file.

    abc-calibrate leader --arm left --rig rigs/<rig> --pose home [--port P]
                         [--second-pose ready] [--offsets fine|quarter]
                         [--yes --gripper-range OPEN_RAD CLOSED_RAD]
    abc-calibrate follower --rig rigs/<rig> --arm left [--yes --gripper-range OPEN_RAD CLOSED_RAD]
    abc-calibrate check rigs/<rig>/left.yaml [--arm left] [--ids 1,2,3,4,5,6,7]

``leader`` runs the procedure of :mod:`abc_robot.calibration.procedure` (the operator
holds the arm in the named pose of ``<rig>/rig.yaml``, optionally a second pose that
measures the joint signs, then releases and squeezes the trigger), verifies it by
reading the arm back in the first pose (joints and leader FK, expected next to
measured) and writes ``<rig>/<arm>.yaml`` only if the verification passes.
``--yes`` answers every prompt at once (the arm must already be in the pose) and
needs ``--gripper-range``. ``follower`` runs :mod:`abc_robot.rig.calibrate_follower` on a
YAM arm (zero offsets, gripper range, signs by a guided motion under low torque) and
writes ``<rig>/follower_<arm>.yaml``, read back and verified. Exit status: 0 written/valid, 1 device or verification
failure, 2 bad arguments or a refused file.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from abc_robot.errors import AbcRobotError, ConfigError, DeviceError

__all__ = ["main"]


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="abc-calibrate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    lead = sub.add_parser("leader", help="calibrate a GELLO leader arm")
    lead.add_argument("--arm", required=True, choices=["left", "right"])
    lead.add_argument("--rig", required=True, help="rig directory, e.g. rigs/my_rig (rig.yaml optional)")
    lead.add_argument("--pose", default="home", help="pose held for the offsets (rig.yaml poses)")
    lead.add_argument("--port", help="serial device (default: rig.yaml leader.ports[arm])")
    lead.add_argument("--baud", type=int, help="bus rate (default: rig.yaml, 4000000)")
    lead.add_argument("--ids", type=_ids, help="servo ids, joints 1..6 then trigger (default: rig.yaml)")
    lead.add_argument("--second-pose", help="second pose that measures the joint signs (default: rig.yaml second_pose)")
    lead.add_argument("--offsets", choices=["fine", "quarter"], default="fine", help="keep fine offsets or snap to quarter turns")
    lead.add_argument("--gripper-range", nargs=2, type=float, metavar=("OPEN_RAD", "CLOSED_RAD"), help="trigger servo angles instead of measuring")
    lead.add_argument("--yes", action="store_true", help="non-interactive: do not wait for the operator")
    lead.add_argument("--out", help="output file (default: <rig>/<arm>.yaml)")
    lead.add_argument("--tolerance-deg", type=float, default=1.0, help="verification: largest joint error accepted [deg]")
    lead.add_argument("--no-fk", action="store_true", help="skip the FK part of the verification")
    lead.add_argument("--force", action="store_true", help="write the file even if the verification fails")
    fol = sub.add_parser("follower", help="calibrate a YAM follower arm (offsets, gripper range, signs)")
    fol.add_argument("--rig", required=True, help="rig directory, e.g. rigs/abc_yam")
    fol.add_argument("--arm", required=True, choices=["left", "right"])
    fol.add_argument("--rig-overlay", metavar="FILE", help="YAML deep-merged onto rig.yaml (device addresses)")
    fol.add_argument("--gripper-range", nargs=2, type=float, metavar=("OPEN_RAD", "CLOSED_RAD"), help="gripper motor positions instead of measuring")
    fol.add_argument("--yes", action="store_true", help="non-interactive: the arm is in place, directions are trusted")
    fol.add_argument("--motion-rad", type=float, default=0.1, help="guided motion of each joint [rad]")
    fol.add_argument("--tolerance-deg", type=float, default=1.0, help="verification: largest joint error accepted [deg]")
    fol.add_argument("--out", help="output file (default: the rig's followers.<arm>.calibration, or follower_<arm>.yaml)")
    chk = sub.add_parser("check", help="load a calibration file and report whether it is accepted")
    chk.add_argument("file")
    chk.add_argument("--arm", choices=["left", "right"])
    chk.add_argument("--ids", type=_ids)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"check": _check, "leader": _leader, "follower": _follower}[args.command](args)
    except ConfigError as exc:
        print(f"abc-calibrate: refused: {exc}", file=sys.stderr)
        return 2
    except (DeviceError, KeyError) as exc:
        print(f"abc-calibrate: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 1
    except AbcRobotError as exc:
        print(f"abc-calibrate: {exc}", file=sys.stderr)
        return 1


def _check(args: argparse.Namespace) -> int:
    from abc_robot.calibration.schema import load_leader_calibration

    cal = load_leader_calibration(args.file, arm=args.arm, motor_ids=args.ids)
    print(
        f"{args.file}: ok — {cal.arm} leader, ids {list(cal.motor_ids)}, baud {cal.baud}, "
        f"signs {[int(s) for s in cal.signs]}, reference pose '{cal.reference_pose}'"
    )
    return 0


def _leader(args: argparse.Namespace) -> int:
    from abc_robot.calibration.procedure import ConsoleOperator, ImmediateOperator, calibrate_leader, verify_calibration
    from abc_robot.calibration.schema import load_leader_rig, save_leader_calibration
    from abc_robot.devices.dynamixel import control_table as ct
    from abc_robot.devices.dynamixel.bus import BusConfig, DynamixelBus

    rig_dir = Path(args.rig)
    rig = load_leader_rig(rig_dir)
    port = args.port or rig.ports.get(args.arm) or _rig_leader_port(rig_dir, args.arm)
    if not port:
        print(f"abc-calibrate: no port: pass --port or set leader.ports.{args.arm} in {rig_dir / 'rig.yaml'}", file=sys.stderr)
        return 2
    if args.yes and args.gripper_range is None:
        print("abc-calibrate: --yes cannot measure the trigger; pass --gripper-range OPEN_RAD CLOSED_RAD", file=sys.stderr)
        return 2
    if args.pose not in rig.poses:
        print(f"abc-calibrate: unknown pose {args.pose!r}; {rig_dir / 'rig.yaml'} defines {sorted(rig.poses)}", file=sys.stderr)
        return 2
    second = args.second_pose if args.second_pose is not None else (rig.second_pose or None)
    operator = ImmediateOperator() if args.yes else ConsoleOperator()
    limits = _joint_limits(rig.urdf)
    bus = DynamixelBus(BusConfig(port=port, motor_ids=args.ids or rig.motor_ids, baud=args.baud or rig.baud, timeout_ms=20.0, retries=2))
    bus.connect()
    try:
        # A leader is passive: torque must be off for the operator to move it.
        if not bus.sync_write(ct.TORQUE_ENABLE, {i: 0 for i in bus.config.motor_ids}):
            raise DeviceError(f"cannot switch the leader's torque off: {bus.fault}")
        cal = calibrate_leader(
            bus, rig, args.arm, args.pose, operator, second_pose=second, offsets=args.offsets,
            gripper_range_rad=tuple(args.gripper_range) if args.gripper_range else None, joint_limits=limits,
        )  # fmt: skip
        if second is not None or args.gripper_range is None:
            operator.hold(f"verify:{args.pose}", f"Put the arm back in pose '{args.pose}', trigger released, to verify")
        check = verify_calibration(cal, bus, fk=not args.no_fk)
    finally:
        bus.close()
    print(f"offsets [rad]: {np.round(cal.offsets_rad, 4).tolist()}  signs: {[int(s) for s in cal.signs]}")
    print(f"trigger: open {cal.gripper_open_rad:.4f} rad, closed {cal.gripper_closed_rad:.4f} rad")
    print(check.table())
    ok = check.max_joint_error_rad <= math.radians(args.tolerance_deg)
    if not ok and not args.force:
        print(
            f"abc-calibrate: verification failed (largest joint error {math.degrees(check.max_joint_error_rad):.2f}° > "
            f"{args.tolerance_deg}°); nothing written. Hold the arm still in pose '{args.pose}' and run again.",
            file=sys.stderr,
        )
        return 1
    out = save_leader_calibration(cal, args.out or rig_dir / f"{args.arm}.yaml")
    print(f"wrote {out}")
    return 0 if ok else 1


def _rig_leader_port(rig_dir: Path, arm: str) -> str | None:
    """``leaders.<arm>.port`` of a rigs/<name>/rig.yaml (None without one)."""
    from abc_robot.rig import load_rig

    if not (rig_dir / "rig.yaml").is_file() or "schema" not in (rig_dir / "rig.yaml").read_text():
        return None
    leader = load_rig(rig_dir).leaders.get(arm)
    return leader.port if leader is not None else None


def _follower(args: argparse.Namespace) -> int:
    from abc_robot.rig import follower_config, load_rig
    from abc_robot.rig.calibrate_follower import (
        ConsoleFollowerOperator,
        FollowerCalibrationOptions,
        ImmediateFollowerOperator,
        calibrate_yam_follower,
    )

    rig = load_rig(args.rig, args.rig_overlay)
    spec = rig.followers[args.arm]
    if spec.kind != "yam":
        print(f"abc-calibrate: follower {args.arm} of {rig.name} is a {spec.kind} arm; this procedure is for YAM arms", file=sys.stderr)
        return 2
    if args.yes and args.gripper_range is None:
        print("abc-calibrate: --yes cannot measure the gripper; pass --gripper-range OPEN_RAD CLOSED_RAD", file=sys.stderr)
        return 2
    cfg = follower_config(rig, args.arm, missing_ok=True)
    out = Path(args.out) if args.out else Path(rig.path(spec.calibration or f"follower_{args.arm}.yaml"))
    operator = ImmediateFollowerOperator() if args.yes else ConsoleFollowerOperator()
    opts = FollowerCalibrationOptions(motion_rad=args.motion_rad, tolerance_rad=math.radians(args.tolerance_deg))
    gripper = (args.gripper_range[0], args.gripper_range[1]) if args.gripper_range else None
    result = calibrate_yam_follower(cfg, args.arm, out, operator, gripper_range_rad=gripper, options=opts)
    cal = result.calibration
    print(f"offsets [rad]: {np.round(cal.offsets_rad, 4).tolist()}  directions: {[int(d) for d in cal.directions]}")
    print(f"gripper: open {cal.gripper_open_rad:.4f} rad, closed {cal.gripper_closed_rad:.4f} rad")
    print(f"guided motion [rad]: {np.round(result.moved_rad, 3).tolist()}  flipped joints: {list(result.flipped) or 'none'}")
    print(f"zero pose read back [rad]: {np.round(result.residual_rad, 4).tolist()}")
    print(f"wrote {result.path} (read back and verified)")
    if not spec.calibration:
        print(f"note: add `calibration: {result.path.name}` to followers.{args.arm} in {rig.root}/rig.yaml to use it", file=sys.stderr)
    return 0


def _joint_limits(urdf: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The leader URDF's joint ranges (the turn resolution uses them); None: defaults."""
    try:
        from abc_robot.kinematics.model import ArmModel

        model = ArmModel.from_urdf(urdf)
        return model.q_lower.copy(), model.q_upper.copy()
    except Exception as exc:  # noqa: BLE001 - the YAM defaults in the schema still apply
        print(f"note: joint ranges from the schema defaults ({exc})", file=sys.stderr)
        return None


if __name__ == "__main__":
    raise SystemExit(main())
