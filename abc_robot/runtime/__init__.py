"""Node base, rate loop, configuration, launch files and the supervisor."""

from abc_robot.runtime.config import from_dict, load_config, load_yaml
from abc_robot.runtime.node import Node
from abc_robot.runtime.rate import RateLoop

__all__ = ["Node", "RateLoop", "from_dict", "load_config", "load_yaml"]
