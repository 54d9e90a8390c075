"""Grouped blind evaluation of several checkpoints (``abc-eval``).

- :mod:`~abc_robot.eval.aliasing`: checkpoints behind random aliases A, B, C...
- :mod:`~abc_robot.eval.trials`: the randomized trial queue (groups, paired seeds).
- :mod:`~abc_robot.eval.stats`: Wilson and t intervals, paired comparison.
- :mod:`~abc_robot.eval.graph`: the rollout graph with one worker per checkpoint
  behind a policy mux.
- :mod:`~abc_robot.eval.judge`: outcome judgment (sim success test, or the operator).
- :mod:`~abc_robot.eval.blind`: what the operator may see while trials run.
- :mod:`~abc_robot.eval.runner`: the trial loop; :mod:`~abc_robot.eval.report`: the
  de-anonymized results.
- :mod:`~abc_robot.eval.reference_policies`: policies of known quality for tests.
"""

from abc_robot.eval.aliasing import BlindMapping, alias_names, assign_aliases, make_rng
from abc_robot.eval.blind import Redactor, secrets_of
from abc_robot.eval.judge import JUDGES, OperatorJudge, Outcome, OutcomeJudge, SimJudge
from abc_robot.eval.report import REPORT_HEADER, TrialRecord, build_report, format_report
from abc_robot.eval.stats import mean_interval, paired_comparison, wilson_interval
from abc_robot.eval.trials import Trial, make_trial_queue

__all__ = [
    "BlindMapping",
    "alias_names",
    "assign_aliases",
    "make_rng",
    "Redactor",
    "secrets_of",
    "JUDGES",
    "OperatorJudge",
    "Outcome",
    "OutcomeJudge",
    "SimJudge",
    "REPORT_HEADER",
    "TrialRecord",
    "build_report",
    "format_report",
    "mean_interval",
    "paired_comparison",
    "wilson_interval",
    "Trial",
    "make_trial_queue",
]
