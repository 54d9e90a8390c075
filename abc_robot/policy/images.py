"""The policy's image geometry is the episode video's: see :mod:`abc_robot.recording.images`."""

from abc_robot.recording.images import resize_with_pad

__all__ = ["resize_with_pad"]
