"""The whole learning loop in MuJoCo, one command:

    python -m abc_robot.cli.learning_loop --task lift_cube_easy --demos 10 --episodes 10 \\
        [--dagger] [--dagger-task lift_cube] [--steps 1500] [--threads 2] [--work DIR] [--json]

1. scripted demonstrations through the teleop graph (``abc-teleop --sim --episodes``),
   recorded by the recorder;
2. ``abc-train`` on them;
3. ``abc-rollout`` of the checkpoint on held-out seeds (success rate, progress);
4. with ``--dagger``: one DAgger round on ``--dagger-task`` (default: the same task) —
   a rollout of the first checkpoint on that task's seeds (the pre-DAgger figure),
   rollouts on the same seeds in which a scripted operator takes over a stalled policy
   and demonstrates the correction through the leader (steps labelled
   ``intervention``), retraining on demonstrations + interventions
   (``--filter-source demo,intervention``, interventions weighted ×2), and a rollout
   of the new checkpoint on the same seeds again.

Every stage is the real command in its own processes; nothing is cached between runs.
The summary (one JSON object with ``--json``) gives each stage's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "run_loop", "run_cli", "train", "rollout", "DEMO_RATES"]

#: The scripted demonstrations run the teleop graph at the rollout graph's rates
#: (followers and leader 100 Hz, world loop 250 Hz; launch/rollout_sim.yaml): the data
#: then comes from the control rates the policy runs at, and on a 2-core machine the
#: teleop rates (250/500 Hz) left the cameras and recorder so little CPU that cameras
#: were reported lost mid-demonstration.
DEMO_RATES = (
    "--set", "follower_left.rate_hz=100", "--set", "follower_right.rate_hz=100",
    "--set", "leader.rate_hz=100", "--set", "sim.rate_hz=250",
)  # fmt: skip


def run_cli(args: list[str], log: Path) -> dict[str, Any]:
    """Run a CLI as ``python -m`` in its own process; return its last-line JSON."""
    env = dict(os.environ)
    env.setdefault("MUJOCO_GL", "egl")
    with open(log, "w") as f:
        proc = subprocess.run([sys.executable, "-m", *args], stdout=f, stderr=subprocess.STDOUT, text=True, env=env)
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"{' '.join(args[:2])} failed (status {proc.returncode}); log {log}:\n{tail}")
    return json.loads(lines[-1])


def train(episodes: Path, out: Path, steps: int, log: Path, extra: list[str]) -> float:
    """``abc-train`` in its own process; return its wall time [s]."""
    t0 = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "abc_robot.cli.train", str(episodes), "--out", str(out), "--steps", str(steps), *extra],
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"abc-train failed; log {log}:\n{log.read_text()[-2000:]}")
    return time.monotonic() - t0


def rollout(
    ckpt: Path,
    task: str,
    episodes: int,
    seed: int,
    time_limit_s: float,
    log: Path,
    extra: tuple[str, ...] = (),
    episodes_dir: Path | None = None,
) -> dict[str, Any]:
    """``abc-rollout --sim`` of ``ckpt`` on ``episodes`` seeds from ``seed``; its JSON summary.

    The rollout episodes are recorded in ``episodes_dir`` (default: ``rollouts/`` beside ``log``).
    """
    rec = episodes_dir or log.parent / "rollouts"
    args = ["--sim", "--task", task, "--episodes", str(episodes), "--seed", str(seed), "--time-limit", str(time_limit_s)]
    args += ["--json", "--episodes-dir", str(rec)]
    return run_cli(["abc_robot.cli.rollout", "--policy", str(ckpt), *args, *extra], log)


def run_loop(
    task: str,
    demos: int,
    episodes: int,
    steps: int,
    work: Path,
    dagger: bool,
    time_limit_s: float,
    seed: int = 0,
    threads: int = 1,
    dagger_task: str | None = None,
) -> dict[str, Any]:
    """Run the loop; return the summary of every stage."""
    work.mkdir(parents=True, exist_ok=True)
    data = work / "episodes"
    summary: dict[str, Any] = {"task": task, "work": str(work)}
    t = run_cli(["abc_robot.cli.teleop", "--sim", "--headless", "--task", task, "--episodes", str(demos), "--seed", str(seed), "--episodes-dir", str(data), "--json", *DEMO_RATES], work / "demos.log")
    summary["demos"] = {"n": len(t.get("episodes", [])), "success_rate": t.get("success_rate")}
    opts = ["--threads", str(threads)]
    summary["train_s"] = train(data, work / "ckpt0", steps, work / "train0.log", opts)
    seeds = 1000 + seed
    r0 = rollout(work / "ckpt0", task, episodes, seeds, time_limit_s, work / "rollout0.log")
    summary["policy0"] = {"success_rate": r0["success_rate"], "mean_progress": r0["mean_progress"], "policy": r0["arms"].get("right", {}).get("policy")}
    if dagger:
        dtask = dagger_task or task
        summary["dagger_task"] = dtask  # same seeds as policy0: the comparison is seed for seed
        if dtask != task:
            r = rollout(work / "ckpt0", dtask, episodes, seeds, time_limit_s, work / "rollout0_dagger_task.log")
            summary["policy0_dagger_task"] = {"success_rate": r["success_rate"], "mean_progress": r["mean_progress"]}
        d = rollout(work / "ckpt0", dtask, episodes, seeds, time_limit_s, work / "dagger.log", ("--dagger",), data)
        summary["dagger_round"] = {
            "success_rate": d["success_rate"],
            "interventions": {arm: a["interventions"] for arm, a in d["arms"].items()},
            "intervention_rate_time": {arm: a["intervention_rate_time"] for arm, a in d["arms"].items()},
        }
        summary["train1_s"] = train(data, work / "ckpt1", steps, work / "train1.log", [*opts, "--filter-source", "demo,intervention", "--weight-source", "intervention=2"])
        r1 = rollout(work / "ckpt1", dtask, episodes, seeds, time_limit_s, work / "rollout1.log")
        summary["policy1"] = {"success_rate": r1["success_rate"], "mean_progress": r1["mean_progress"]}
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="learning_loop", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="lift_cube_easy")
    ap.add_argument("--demos", type=int, default=10)
    ap.add_argument("--episodes", type=int, default=10, help="rollout episodes per evaluation")
    ap.add_argument("--steps", type=int, default=1500, help="training steps")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads for training")
    ap.add_argument("--time-limit", type=float, default=10.0, help="rollout episode limit [s]")
    ap.add_argument("--dagger", action="store_true", help="add one DAgger round")
    ap.add_argument("--dagger-task", default=None, help="task of the DAgger round (default: --task)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=None, help="working directory (default: a new temporary one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="abc-loop-"))
    summary = run_loop(
        args.task, args.demos, args.episodes, args.steps, work, args.dagger, args.time_limit, args.seed, args.threads, args.dagger_task
    )
    print(json.dumps(summary) if args.json else json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
