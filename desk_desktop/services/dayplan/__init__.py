"""Optimize a day: the whole day's assignments and routes planned at once (issue 20).

- ``service``: ``optimize_day`` (a proposal, nothing written) and ``apply_proposal`` (all of
  it in one transaction, or nothing when another workstation changed the day; an applied
  plan's ``undo`` is applied the same way);
- ``problem``: the day read from the database as a problem for the planner;
- ``proposal``: the plan as a difference from the day as it is;
- ``solver``: the planner (``domain.dayplan``) run in a child process, cancellable;
- ``nightly``: the scheduler's evening run for the next day.
"""

from desk_desktop.services.dayplan.proposal import DayProposal, PlanChange
from desk_desktop.services.dayplan.service import AppliedPlan, PlanOutdated, apply_proposal, optimize_day
from desk_desktop.services.dayplan.solver import PlanCancelled, PlannerFailed

__all__ = ["AppliedPlan", "DayProposal", "PlanCancelled", "PlanChange", "PlanOutdated", "PlannerFailed",
           "apply_proposal", "optimize_day"]
