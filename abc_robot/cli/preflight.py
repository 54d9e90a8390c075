"""Refuse bad input files before a graph starts: one line naming the file and the problem.

A checkpoint that cannot load or does not fit the rig, a calibration file or a rig file
that does not parse, must stop a command before any process is spawned (exit 2), not
surface as a node's traceback after the arms are up. The checks here are the loaders'
own validations, run in the command's process; none imports torch or mujoco (a model
file is checked as a container, not built).

Usage from a command::

    from abc_robot.cli.preflight import preflight_graph

    graph = load_launch(...)
    if (code := preflight_graph("abc-rollout", graph)) is not None:
        return code            # the line is already on stderr

The single-file checks (:func:`check_checkpoint`, :func:`check_leader_calibration`,
:func:`check_rig_file`) raise :class:`~abc_robot.errors.ConfigError` or
:class:`~abc_robot.errors.CheckpointError`; :func:`refusal` turns one into the line.
"""

from __future__ import annotations

import json
import struct
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from abc_robot.errors import AbcRobotError, CheckpointError, ConfigError

__all__ = [
    "EXIT_REFUSED",
    "check_checkpoint",
    "check_model_file",
    "check_leader_calibration",
    "check_rig_file",
    "check_graph",
    "refusal",
    "preflight",
    "preflight_graph",
]

#: Exit status of a command that refused its input (the usage-error status of argparse).
EXIT_REFUSED = 2


def check_model_file(path: Path) -> None:
    """Check a weights or program file is a complete container of its kind (no torch needed).

    ``torch.save`` and ``torch.export.save`` write zip archives (a truncated or foreign file
    has no central directory); ``.safetensors`` starts with its JSON header's length.

    Raises:
        CheckpointError: empty, truncated or not a model file (the message names it).
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the model file ({exc.strerror})") from exc
    if size == 0:
        raise CheckpointError(f"{path}: model file is empty")
    if path.suffix == ".safetensors":
        with path.open("rb") as f:
            head = f.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if n <= 0 or 8 + n > size:
                raise CheckpointError(f"{path}: not a complete safetensors file (header length {n}, file {size} B)")
            try:
                json.loads(f.read(n))
            except ValueError as exc:
                raise CheckpointError(f"{path}: safetensors header is not JSON ({exc})") from exc
        return
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{path}: not a loadable torch file, truncated or corrupt ({exc})") from exc
    if not any(n.endswith(("data.pkl", ".json", ".pt2")) or "/data/" in n for n in names):
        raise CheckpointError(f"{path}: a zip archive, but not one torch wrote (no data.pkl)")


def check_checkpoint(path: str | Path, *, cameras: Iterable[str] | None = None, arms: int | None = None) -> Any:
    """Validate a checkpoint directory, its model file, and that it fits the rig.

    Args:
        path: checkpoint directory.
        cameras: camera names the rig offers (None: not checked).
        arms: number of 7-value arms the rig drives (None: not checked).

    Returns:
        The :class:`~abc_robot.policy.checkpoint.Checkpoint` (no model built).

    Raises:
        CheckpointError: missing, malformed, truncated, or not fitting the rig.
    """
    from abc_robot.policy.checkpoint import RigSpec, load_checkpoint

    rig = None
    if cameras is not None or arms is not None:
        default = RigSpec()
        rig = RigSpec(
            cameras=tuple(cameras) if cameras is not None else default.cameras,
            state_dim=7 * arms if arms is not None else default.state_dim,
            action_dim=7 * arms if arms is not None else default.action_dim,
        )
    ckpt = load_checkpoint(path, rig)
    model = ckpt.config.model
    name = model.program if model.program is not None else model.weights
    if name is not None and model.entry_point is None:
        check_model_file(ckpt.path / name)
    return ckpt


def check_leader_calibration(path: str | Path, *, arm: str | None = None, motor_ids: Iterable[int] | None = None) -> Any:
    """Load a leader calibration file (:func:`~abc_robot.calibration.schema.load_leader_calibration`).

    Raises:
        ConfigError: missing or unparsable file, wrong arm or ids, bad value (file and field named).
    """
    from abc_robot.calibration.schema import load_leader_calibration

    return load_leader_calibration(path, arm=arm, motor_ids=tuple(motor_ids) if motor_ids is not None else None)


def check_rig_file(path: str | Path, overlay: str | Path | None = None) -> Any:
    """Load a rig directory or ``rig.yaml`` (:func:`~abc_robot.rig.load.load_rig`).

    Raises:
        ConfigError: missing or unparsable file, unknown or bad field (file and field named).
    """
    from abc_robot.rig.load import load_rig

    return load_rig(path, overlay)


def _policy_worker(params: Mapping[str, Any]) -> None:
    if "checkpoint" not in params:
        return
    topics = dict(params.get("camera_topics") or {})
    rig_cams = tuple(params.get("rig_cameras") or ("top", "left", "right"))
    offered = rig_cams + tuple(k for k, v in topics.items() if v in rig_cams)
    check_checkpoint(str(params["checkpoint"]), cameras=offered, arms=len(tuple(params.get("arms") or ("left", "right"))))


def _gello_leader(params: Mapping[str, Any]) -> None:
    if "calibration" in params:
        ids = params.get("motor_ids")
        check_leader_calibration(str(params["calibration"]), arm=params.get("arm"), motor_ids=ids)


#: Node kind → the check of the files its params name.
_NODE_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "policy_worker": _policy_worker,
    "gello_leader": _gello_leader,
}


def check_graph(graph: Any) -> None:
    """Check every file the nodes of ``graph`` (a :class:`~abc_robot.runtime.launch.LaunchGraph`) will load.

    Raises:
        ConfigError, CheckpointError: the first problem, naming the node, the file and the problem.
    """
    for node in graph.nodes:
        check = _NODE_CHECKS.get(node.kind)
        if check is None:
            continue
        try:
            check(node.params)
        except (ConfigError, CheckpointError) as exc:
            raise type(exc)(f"node {node.name}: {exc}") from exc


def refusal(prog: str, exc: BaseException) -> str:
    """The one line a command prints when it refuses its input."""
    text = " ".join(str(exc).split())
    return f"{prog}: refused: {text}"


def preflight(prog: str, *checks: Callable[[], object], out: TextIO | None = None) -> int | None:
    """Run ``checks``; on the first failure print its one line and return :data:`EXIT_REFUSED`.

    Returns:
        None when every check passed.
    """
    for check in checks:
        try:
            check()
        except (AbcRobotError, ValueError) as exc:
            print(refusal(prog, exc), file=out or sys.stderr, flush=True)
            return EXIT_REFUSED
    return None


def preflight_graph(prog: str, graph: Any, out: TextIO | None = None) -> int | None:
    """:func:`preflight` of :func:`check_graph`; see the module docstring."""
    return preflight(prog, lambda: check_graph(graph), out=out)
