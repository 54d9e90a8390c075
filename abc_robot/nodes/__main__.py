"""Process entry of one node of the graph: ``python -m abc_robot.nodes --kind K --name N``.

:mod:`abc_robot.runtime.node_main` runs the node; this hands it the node table.
"""

import sys

from abc_robot.nodes.registry import resolve
from abc_robot.runtime.node_main import main

if __name__ == "__main__":
    sys.exit(main(resolve=resolve))
