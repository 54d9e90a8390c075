"""``abc-train EPISODES_DIR --out CKPT``: train the reference DiT flow policy on the CPU.

Reads every recorded episode under EPISODES_DIR (ABC layout), keeps the steps whose
control source is selected (default: the operator's demonstrations and interventions,
the usual DAgger recipe), trains the small reference policy and writes a checkpoint
directory in the policy contract (see :mod:`abc_robot.policy.checkpoint`).

Examples::

    abc-train data/bottles --out ckpt/bottles --steps 1500
    abc-train data/bottles --out ckpt/dagger1 --filter-source demo,intervention --weight-source intervention=2
    abc-train data/bottles --out ckpt/dagger1 --init ckpt/bottles --steps 600   # fine-tune the last round's policy
    abc-train --synthetic 20 --out /tmp/ckpt --steps 200     # no data needed (smoke test)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from abc_robot.errors import AbcRobotError

__all__ = ["main", "parse_weights"]


def parse_weights(text: str) -> dict[str, float]:
    """``"intervention=2,demo=1"`` → ``{"intervention": 2.0, "demo": 1.0}``."""
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected SOURCE=WEIGHT[,SOURCE=WEIGHT...], got {item!r}") from None
        if out[name.strip()] < 0:
            raise argparse.ArgumentTypeError(f"weight of {name!r} must be >= 0")
    return out


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="abc-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("episodes", nargs="?", help="directory of recorded episodes")
    ap.add_argument("--out", required=True, help="checkpoint directory to write")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default 1500)")
    ap.add_argument("--batch", type=int, default=None, help="observations per step (default 32)")
    ap.add_argument(
        "--filter-source",
        default="demo,intervention",
        help="control sources to train on, comma-separated (demo = operator teleop; 'all' keeps every step)",
    )
    ap.add_argument(
        "--keep-idle",
        action="store_true",
        help="also train on each segment's idle start (see abc_robot.policy.dataset)",
    )
    ap.add_argument("--weight-source", type=parse_weights, default={}, help="sampling weights, e.g. intervention=2")
    ap.add_argument("--cameras", default="top,left,right", help="camera names, in model order")
    ap.add_argument("--chunk", type=int, default=30, help="chunk length H")
    ap.add_argument("--rate-hz", type=float, default=30.0, help="recording / action rate [Hz]")
    ap.add_argument("--image-size", type=int, default=None, help="model image resolution [px] (default 64)")
    ap.add_argument(
        "--shift-px",
        type=int,
        default=None,
        help="random image shift augmentation [px at model resolution] (default 4)",
    )
    ap.add_argument("--correlated-noise", action="store_true", help="train with noise correlated along the chunk")
    ap.add_argument(
        "--prefix-steps", type=int, default=0, help="train to condition on up to this many prefix actions (0..4)"
    )
    ap.add_argument(
        "--init", metavar="CKPT", help="start from this checkpoint's weights (same architecture and shapes)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared machine)")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N", help="train on N synthetic episodes instead")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.episodes and not args.synthetic:
        print("abc-train: give EPISODES_DIR (or --synthetic N)", file=sys.stderr)
        return 2
    import torch

    from abc_robot.policy.dataset import ChunkDataset, load_recorded_episodes
    from abc_robot.policy.synthetic import synthetic_episodes
    from abc_robot.policy.training import TrainConfig, train_policy

    torch.set_num_threads(max(1, args.threads))
    cameras = tuple(c for c in args.cameras.split(",") if c)
    cfg = TrainConfig(seed=args.seed, correlated_noise=args.correlated_noise)
    overrides = {
        k: v for k, v in (("steps", args.steps), ("batch", args.batch), ("shift_px", args.shift_px)) if v is not None
    }
    model = cfg.model if args.image_size is None else replace(cfg.model, image_size=args.image_size)
    try:
        cfg = replace(cfg, model=replace(model, prefix_steps=args.prefix_steps), **overrides)
    except ValueError as exc:
        print(f"abc-train: {exc}", file=sys.stderr)
        return 2
    sources = (
        None if args.filter_source.strip() == "all" else [s.strip() for s in args.filter_source.split(",") if s.strip()]
    )
    try:
        if args.synthetic:
            episodes = synthetic_episodes(args.synthetic, seed=args.seed, image_size=cfg.model.image_size)
            info: dict[str, Any] = {"data": f"synthetic x{args.synthetic}"}
        else:
            print(f"reading episodes from {args.episodes}")
            episodes = load_recorded_episodes(args.episodes, cameras, cfg.model.image_size)
            info = {"data": str(args.episodes)}
        info.update(sources=sources or "all", source_weights=args.weight_source)
        if args.init:
            info["init"] = str(args.init)
        data = ChunkDataset(episodes, args.chunk, sources, args.weight_source, None if args.keep_idle else 2e-3)
        print(f"{len(data)} training steps ({data.trimmed} idle steps at segment starts left out)")
        result = train_policy(data, args.out, cfg, cameras=cameras, rate_hz=args.rate_hz, info=info, init=args.init)
    except (AbcRobotError, ValueError) as exc:
        print(f"abc-train: {exc}", file=sys.stderr)
        return 1
    print(f"checkpoint: {result.path}  ({result.seconds:.0f} s, final loss {result.final_loss:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
