"""abc_robot: real-time bimanual teleoperation, recording, policy rollout and DAgger.

Subpackages mirror the parts of the stack: ``transport`` (messages, codec, sockets),
``runtime`` (node base, launch files, supervisor), ``kinematics`` (pinocchio models,
IK, collision), ``control`` (safety filter, intervention mapping), ``devices``
(leaders, followers, cameras, console board), ``nodes`` (one module per process
kind), ``sim`` (MuJoCo world and tasks), ``recording`` (episodes), ``policy``
(checkpoints, chunk execution, the reference policy), ``cli`` and ``bench``.
Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
