"""The episode layout on disk: the ABC dataset's own files, plus ours beside them.

::

    <root>/
      episode_<uuid>/                       a finished (or recovered) episode
        states_actions.bin                  little-endian float64 rows, 28 per row:
                                            14 state (measured q, left then right,
                                            per arm 6 joints [rad] + gripper [0, 1])
                                            then 14 action (commanded q, same layout)
        combined_camera-images-rgb.mp4      views letterboxed to 224×224 and stacked
                                            vertically (top, left, right): 672×224,
                                            H.264 yuv420p, 30 fps, pts = 512·k in
                                            1/15360, a keyframe exactly every 30
                                            frames, fragmented MP4; one frame per row
        episode_metadata.json               task_name, cameras, camera_resolutions,
                                            alignment, t0_ns, tick_ns, num_steps, ...
        step_data.jsonl                     ours: one JSON object per row (capture
                                            stamps of every source, EE poses, mode,
                                            control source); the ABC loader ignores it
      _recording/episode_<uuid>/            an episode being written (or cut off: the
                                            recorder recovers it at its next start)
      _unrecoverable/episode_<uuid>/        what recovery could not save, with a
                                            recovery.json saying why
      norm_stats.json                       written by ``abc-norm-stats``

Row ``k`` (and video frame ``k``) is the tick ``t0_ns + k * tick_ns`` on a fixed 30 Hz
clock; every source is sampled causally there (its latest sample stamped at or
before the tick, see :class:`~abc_robot.recording.aligner.TickAligner`).

Only finished episodes carry the ``episode_`` prefix at the top level, so a loader
that globs ``episode_*`` never sees a half-written one: finishing renames the
directory out of ``_recording/`` in one atomic step.
"""

from __future__ import annotations

from fractions import Fraction

__all__ = [
    "FORMAT_VERSION",
    "TICK_NS",
    "FPS",
    "GOP",
    "VIEW_SIZE",
    "TIME_BASE",
    "PTS_PER_FRAME",
    "STATE_DIM",
    "ACTION_DIM",
    "ROW_FLOATS",
    "ROW_BYTES",
    "ROW_DTYPE",
    "DEFAULT_CAMERAS",
    "STATES_ACTIONS",
    "VIDEO",
    "METADATA",
    "STEP_DATA",
    "START_METADATA",
    "LOCK",
    "RECORDING_DIR",
    "UNRECOVERABLE_DIR",
    "EPISODE_PREFIX",
    "NORM_STATS",
    "ALIGNMENT",
    "ALIGNMENTS",
    "CONTROL_SOURCES",
    "combine_sources",
    "source_segments",
]

#: Bumped when a file of the layout changes meaning.
FORMAT_VERSION = 1
#: The control clock: 30 Hz, a tick every 33,333,333 ns from ``t0_ns``.
TICK_NS = 33_333_333
FPS = 30
#: A keyframe exactly every GOP frames: frame i's keyframe is ``i // GOP * GOP``.
GOP = 30
#: Each camera view is letterboxed to VIEW_SIZE × VIEW_SIZE [px].
VIEW_SIZE = 224
#: MP4 time base and pts step: frame k has pts ``PTS_PER_FRAME * k`` in ``TIME_BASE``.
TIME_BASE = Fraction(1, 15360)
PTS_PER_FRAME = 512
STATE_DIM = 14
ACTION_DIM = 14
ROW_FLOATS = STATE_DIM + ACTION_DIM
ROW_DTYPE = "<f8"
ROW_BYTES = ROW_FLOATS * 8
DEFAULT_CAMERAS: tuple[str, ...] = ("top", "left", "right")

STATES_ACTIONS = "states_actions.bin"
VIDEO = "combined_camera-images-rgb.mp4"
METADATA = "episode_metadata.json"
STEP_DATA = "step_data.jsonl"
#: Written when the episode starts (and refreshed as it goes): what recovery needs.
START_METADATA = "episode_metadata.partial.json"
#: Held (flock) by the writing process; released by the kernel when it dies.
LOCK = ".writer.lock"
RECORDING_DIR = "_recording"
UNRECOVERABLE_DIR = "_unrecoverable"
EPISODE_PREFIX = "episode_"
NORM_STATS = "norm_stats.json"
#: How rows are placed on the clock (``alignment`` in the metadata), spelled as the
#: public ``export_mcap.py`` writes it. Files written before say ``"causal"``: same rule.
ALIGNMENT = "fixed_clock_30hz_causal"
#: Every spelling of :data:`ALIGNMENT` a reader accepts.
ALIGNMENTS = (ALIGNMENT, "causal")

#: Who was in control at a step, most telling first: a step where either arm is
#: corrected by the operator is an intervention step of the rig.
CONTROL_SOURCES = ("intervention", "operator", "policy", "none")


def combine_sources(per_arm: list[str] | tuple[str, ...]) -> str:
    """The rig's control source of a step from each arm's (most telling one wins)."""
    for s in CONTROL_SOURCES:
        if s in per_arm:
            return s
    return per_arm[0] if per_arm else "none"


def source_segments(sources: list[str]) -> list[dict[str, object]]:
    """Runs of equal control source: ``[{"source", "start", "end"}]`` (end exclusive)."""
    out: list[dict[str, object]] = []
    for i, s in enumerate(sources):
        if out and out[-1]["source"] == s:
            out[-1]["end"] = i + 1
        else:
            out.append({"source": s, "start": i, "end": i + 1})
    return out
