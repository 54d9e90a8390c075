"""``abc-rollout --policy CKPT [--sim]``: run a policy for N episodes and report.

    abc-rollout --policy CKPT --sim [--episodes N] [--task T] [--seed S]
                [--compile MODE] [--dagger] [--json] [--headless]

The policy worker loads and compiles the checkpoint and warms it up before any arm
leaves HOLD. Each episode: the world is reset from a seed, the followers switch to
POLICY, and the episode ends on the task's success test or its time limit. With
``--dagger`` a scripted operator takes over when the policy stalls and demonstrates
the correction through the leader (delta-pose intervention); the steps are labelled
``intervention`` in the recording. The summary reports success rate, mean progress,
intervention rate (count and time) per arm and the policy's inference latency.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from abc_robot.cli.console import node_figures
from abc_robot.cli.page import add_page_args
from abc_robot.cli.view import add_view_args
from abc_robot.errors import AbcRobotError, ConfigError

__all__ = ["main", "rollout_summary"]

LAUNCH = Path(__file__).resolve().parents[2] / "launch" / "rollout_sim.yaml"


def rollout_summary(statuses: dict[str, dict[str, Any]], results: list[Any], duration_s: float) -> dict[str, Any]:
    n = len(results)
    out: dict[str, Any] = {
        "episodes": [vars(r) for r in results],
        "success_rate": sum(r.success for r in results) / n if n else None,
        "mean_progress": sum(r.progress for r in results) / n if n else None,
        "arms": {},
        "nodes": {name: node_figures(st.get("loop", {})) for name, st in statuses.items()},
    }
    episode_s = sum(r.duration_s for r in results) or 1.0
    for name, st in statuses.items():
        s = st.get("status", {})
        if "arm" in s and "interventions" in s:
            out["arms"][s["arm"]] = {
                "interventions": s["interventions"],
                "intervention_time_s": s.get("intervention_s"),
                "intervention_rate_time": (s.get("intervention_s") or 0.0) / episode_s,
                "intervention_rate_count": s["interventions"] / n if n else None,
                "policy": s.get("policy"),
            }
        if s.get("ready") is not None and "rung" in s:
            out["policy_worker"] = s
    return out


def _released_checkpoint(args: argparse.Namespace) -> Path:
    """The checkpoint directory of a released ABC-DiT ``.pt`` (written beside it; the task embedding cached there)."""
    from abc_robot.policy.abc_dit.released import prepare_released
    from abc_robot.policy.abc_dit.text import task_prompt

    prompt = args.prompt if args.prompt is not None else (task_prompt(args.task) if args.task else None)
    return prepare_released(args.policy, prompt=prompt, clip=args.clip_weights, task_embedding=args.task_embedding)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="abc-rollout", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default=None, help="checkpoint directory, or a released ABC-DiT .pt (not with --policy-host)")
    ap.add_argument("--policy-host", default=None, metavar="tcp://HOST:PORT", help="a policy worker on another host (abc-policy serve there)")
    ap.add_argument("--keys", default=None, help="CURVE key ring for --policy-host (default: $ABC_KEYS or ~/.config/abc_robot/keys)")
    ap.add_argument("--uplink", default="tcp://0.0.0.0:5600", help="with --policy-host: where the rig publishes observations")
    ap.add_argument("--link-images", default="jpeg", help="with --policy-host: raw | jpeg, or per camera top=raw,left=jpeg")
    ap.add_argument("--sim", action="store_true", help="roll out in MuJoCo (the only mode without a rig)")
    ap.add_argument("--rig", help="rig directory rigs/<name>: the rollout graph of launch/templates/rollout.yaml, the operator judging")
    ap.add_argument("--episodes", type=int, default=1)
    ap.add_argument("--task", default=None, help="sim task; for a released ABC-DiT .pt also its prompt (dashes/underscores → spaces)")
    ap.add_argument("--prompt", default=None, help="released ABC-DiT .pt: the exact task prompt for its CLIP embedding")
    ap.add_argument("--clip-weights", default=None, help="ViT-B-32.pt or its directory (default: $ABC_CLIP_DIR, ~/.cache/clip)")
    ap.add_argument("--task-embedding", default=None, help="released ABC-DiT .pt: a precomputed task embedding (.npy) instead of CLIP")
    ap.add_argument("--seed", type=int, default=1000, help="seed of the first episode")
    ap.add_argument("--compile", default="eager", help="eager | compile | fullgraph | cudagraphs | tensorrt | best")
    ap.add_argument("--time-limit", type=float, default=20.0, help="episode time limit [s]")
    ap.add_argument("--dagger", action="store_true", help="scripted operator corrects a stalled policy")
    ap.add_argument("--episodes-dir", default=None, help="record the episodes here (needs a recorder in the graph)")
    ap.add_argument("--launch", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
    ap.add_argument("--run-dir", default=None, help="directory for the graph's ipc sockets (default: a fresh temporary one)")
    ap.add_argument("--headless", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object at exit")
    add_page_args(ap)
    add_view_args(ap)
    from abc_robot.cli.rig import add_rig_arguments

    add_rig_arguments(ap)
    args = ap.parse_args(argv)
    if (args.policy is None) == (args.policy_host is None):
        ap.error("give exactly one of --policy CKPT and --policy-host tcp://HOST:PORT")
    if not args.sim and not args.rig:
        print("abc-rollout: on hardware use --rig with a rollout launch file (--launch); --sim runs in MuJoCo", file=sys.stderr)
        if not args.launch:
            return 2

    from abc_robot.cli.director import DirectorConfig, EpisodeDirector, graph_ready
    from abc_robot.cli.launch import parse_sets
    from abc_robot.cli.page import with_page
    from abc_robot.cli.view import with_view
    from abc_robot.runtime.launch import load_launch
    from abc_robot.runtime.supervisor import Supervisor

    overrides = parse_sets(args.set)
    if args.policy is not None and Path(args.policy).is_file():
        try:
            args.policy = str(_released_checkpoint(args))
        except AbcRobotError as exc:
            print(f"abc-rollout: refused: {exc}", file=sys.stderr)
            return 2
    if args.policy is not None:
        overrides.setdefault("policy", {}).update({"checkpoint": str(Path(args.policy).resolve()), "compile": args.compile})
    if args.task:
        overrides.setdefault("sim", {})["sim"] = {"task": args.task}
        for cam in ("camera_top", "camera_left", "camera_right"):
            overrides.setdefault(cam, {})["world"] = {"task": args.task}
    if args.episodes_dir:
        overrides.setdefault("recorder", {})["root"] = args.episodes_dir
    if args.rig and not args.launch:
        from abc_robot.cli.rig import run_rig_rollout

        return run_rig_rollout(args, overrides, "rollout", "abc-rollout")
    try:
        graph = load_launch(args.launch or LAUNCH, overrides)
        if args.policy_host:
            from abc_robot.cli.keyring import default_keys_dir
            from abc_robot.cli.policy import link_images, with_remote_policy

            graph = with_remote_policy(graph, args.policy_host, keys=args.keys or default_keys_dir(), uplink=args.uplink, images=link_images(args.link_images, graph))
        graph = with_view(with_page(graph, args), args)
    except ConfigError as exc:
        print(f"abc-rollout: config error: {exc}", file=sys.stderr)
        return 2
    from abc_robot.cli.preflight import preflight_graph

    if (refused := preflight_graph("abc-rollout", graph)) is not None:
        return refused  # a bad checkpoint or calibration file: nothing was started
    sup = Supervisor(graph, run_dir=args.run_dir, echo_logs=True)
    os.environ["ABC_RUN_DIR"] = sup.run_dir
    task = args.task or next((str(n.params.get("sim", {}).get("task", "lift_cube")) for n in graph.nodes if n.kind == "sim"), "lift_cube")

    kinds = {n.name: n.kind for n in graph.nodes}

    def ready() -> bool:
        return graph_ready(sup.statuses(), kinds, need_policy=True)

    director = EpisodeDirector(DirectorConfig(task=task, time_limit_s=args.time_limit), ready=ready, on_done=sup.request_stop)
    director.start(lambda d: [d.policy_episode(args.seed + k, dagger=args.dagger) for k in range(args.episodes)])
    try:
        code = sup.run(None)
    finally:
        director.stop()
    summary = rollout_summary(sup.statuses(), director.results, 0.0)
    summary["exit"] = code
    summary["stop_reason"] = sup.stop_reason
    if director.error:
        summary["director_error"] = director.error
        code = 1
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(f"episodes: {len(director.results)}, success rate {summary['success_rate']}, mean progress {summary['mean_progress']}")
        for arm, a in summary["arms"].items():
            print(f"  {arm}: interventions {a['interventions']} ({a['intervention_rate_time']:.1%} of the time)")
        if "policy_worker" in summary:
            print(f"  policy worker: {summary['policy_worker']}")
        busy = ", ".join(f"{name} {n['cpu_pct']:.0f} %" for name, n in summary["nodes"].items() if n.get("cpu_pct") is not None)
        print(f"  CPU per node (% of one core): {busy}")
    return code


if __name__ == "__main__":
    sys.exit(main())
