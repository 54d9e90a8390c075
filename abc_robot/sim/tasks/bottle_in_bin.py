from abc_robot.sim.tasks.base import Task
class BottleInBin(Task):
    name = "bottle_in_bin"
