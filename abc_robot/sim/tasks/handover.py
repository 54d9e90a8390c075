from abc_robot.sim.tasks.base import Task
class Handover(Task):
    name = "handover"
