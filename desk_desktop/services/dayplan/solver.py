"""The day planner run in a child process: VROOM holds the interpreter lock while it solves,
so the solve runs where it cannot freeze the window or the scheduler, and Cancel ends it
at once (the process is stopped).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable

from desk_desktop.domain.dayplan import DayPlan, DayProblem, solve_by, solve_day

POLL_SECONDS = 0.1
SPARE_SECONDS = 60.0  # on top of the budget: starting the process, reading the answer


class PlanCancelled(Exception):
    """The dispatcher cancelled the solve."""


class PlannerFailed(RuntimeError):
    """The solver process did not answer (crashed, or ran far past its budget)."""


def solve_apart(problem: DayProblem, *, seconds: float,
                cancelled: Callable[[], bool] = lambda: False) -> DayPlan:
    """``solve_day(problem, seconds=seconds)`` in a child process; ``cancelled`` is asked
    every ``POLL_SECONDS`` and stops it (``PlanCancelled``)."""
    if not problem.orders or not problem.technicians:
        return solve_day(problem, seconds=seconds)  # nothing to solve: no process
    deadline = time.time() + seconds  # the budget includes starting the process
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pending = pool.apply_async(solve_by, (problem, deadline))
        waited = 0.0
        while not pending.ready():
            if cancelled():
                pool.terminate()
                raise PlanCancelled("Optimizing was cancelled; nothing changed.")
            if waited > seconds + SPARE_SECONDS:
                pool.terminate()
                raise PlannerFailed(f"The planner did not answer within {seconds + SPARE_SECONDS:.0f} s; "
                                    "nothing changed.")
            pending.wait(POLL_SECONDS)
            waited += POLL_SECONDS
        try:
            return pending.get()
        except Exception as exc:  # the child's error, re-raised here: say what it was
            raise PlannerFailed(f"The planner failed: {exc}") from exc
