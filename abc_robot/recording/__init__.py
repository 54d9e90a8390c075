"""Episodes in the ABC dataset layout: writer, reader, recovery, norm stats, alignment.

See :mod:`abc_robot.recording.layout` for the files of an episode. Typical use::

    w = EpisodeWriter(root, "lift_cube", t0_ns=t0)
    w.append(state14, action14, {"top": img, "left": img, "right": img}, {"control_source": "operator"})
    w.finish("success", progress=1.0)

    for ep in iter_episodes(root):
        ep.states, ep.actions, ep.frame(17), ep.view(17, "top"), ep.steps[17]["control_source"]

Imports numpy only at module level beyond the package; PyAV and OpenCV load when a
video is written or read.
"""

from abc_robot.recording.aligner import Sample, Tick, TickAligner
from abc_robot.recording.layout import DEFAULT_CAMERAS, FORMAT_VERSION, GOP, TICK_NS, VIEW_SIZE
from abc_robot.recording.norm_stats import compute_norm_stats, write_norm_stats
from abc_robot.recording.reader import EpisodeReader, iter_episodes, list_episodes
from abc_robot.recording.recovery import RecoveryResult, find_incomplete, recover, recover_all
from abc_robot.recording.video import StackedVideoWriter, VideoConfig, VideoReader, letterbox, stack_views
from abc_robot.recording.writer import EpisodeWriter

__all__ = [
    "DEFAULT_CAMERAS",
    "FORMAT_VERSION",
    "GOP",
    "TICK_NS",
    "VIEW_SIZE",
    "EpisodeReader",
    "EpisodeWriter",
    "RecoveryResult",
    "Sample",
    "StackedVideoWriter",
    "Tick",
    "TickAligner",
    "VideoConfig",
    "VideoReader",
    "compute_norm_stats",
    "find_incomplete",
    "iter_episodes",
    "letterbox",
    "list_episodes",
    "recover",
    "recover_all",
    "stack_views",
    "write_norm_stats",
]
