"""The episode director lives in :mod:`abc_robot.runtime.director` (library code that
``abc-teleop``, ``abc-rollout`` and ``abc-eval`` share); re-exported for them."""

from abc_robot.runtime.director import DirectorConfig, EpisodeDirector, EpisodeResult, graph_ready

__all__ = ["EpisodeDirector", "EpisodeResult", "DirectorConfig", "graph_ready"]
