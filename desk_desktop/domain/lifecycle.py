"""The work-order lifecycle rules: which action each status allows, and the words for a refusal.

scheduled/assigned → travelling → on_site → completed; any open order → on_hold (with a
reason) → back where it was; anything not completed → cancelled (with a reason);
completed/cancelled → reopened. A dispatcher recording a job afterwards may complete an
assigned, scheduled or travelling order directly. Pure rules: no database, no Qt.
"""

from __future__ import annotations

from enum import StrEnum

from desk_desktop.domain.enums import WorkOrderStatus as S


class Action(StrEnum):
    START = "start"  # the technician sets off: travelling
    ARRIVE = "arrive"  # the technician is on site
    HOLD = "hold"
    RESUME = "resume"
    COMPLETE = "complete"
    CANCEL = "cancel"
    REOPEN = "reopen"


# The order actions are offered in (buttons, help texts).
ALLOWED: dict[str, tuple[Action, ...]] = {
    S.UNASSIGNED: (Action.CANCEL,),
    S.ASSIGNED: (Action.START, Action.ARRIVE, Action.HOLD, Action.COMPLETE, Action.CANCEL),
    S.SCHEDULED: (Action.START, Action.ARRIVE, Action.HOLD, Action.COMPLETE, Action.CANCEL),
    S.TRAVELLING: (Action.ARRIVE, Action.HOLD, Action.COMPLETE, Action.CANCEL),
    S.ON_SITE: (Action.HOLD, Action.COMPLETE, Action.CANCEL),
    S.ON_HOLD: (Action.RESUME, Action.CANCEL),
    S.COMPLETED: (Action.REOPEN,),
    S.CANCELLED: (Action.REOPEN,),
}

# What each action needs from the dispatcher.
NEEDS_REASON = (Action.HOLD, Action.CANCEL)

# Statuses whose order is finished (not open, not waiting for a technician).
FINISHED = (S.COMPLETED.value, S.CANCELLED.value)

# "WO-000123 is completed; it can only be reopened." — the past participle of each action.
DONE_WORDS = {
    Action.START: "started",
    Action.ARRIVE: "marked on site",
    Action.HOLD: "put on hold",
    Action.RESUME: "resumed",
    Action.COMPLETE: "completed",
    Action.CANCEL: "cancelled",
    Action.REOPEN: "reopened",
}

# Button and command labels.
LABELS = {
    Action.START: "Start travel",
    Action.ARRIVE: "On site",
    Action.HOLD: "Put on hold",
    Action.RESUME: "Resume",
    Action.COMPLETE: "Complete…",
    Action.CANCEL: "Cancel order…",
    Action.REOPEN: "Reopen",
}


def status_words(status: str) -> str:
    """``on_site`` → ``on site``."""
    return str(status).replace("_", " ")


def allowed_actions(status: str) -> tuple[Action, ...]:
    return ALLOWED.get(str(status), ())


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def refusal(number: str, status: str, action: Action) -> str:
    """Why ``action`` is refused for an order in ``status``, and what it allows instead."""
    allowed = [DONE_WORDS[a] for a in allowed_actions(status)]
    if len(allowed) == 1:
        return f"{number} is {status_words(status)}; it can only be {allowed[0]}."
    return f"{number} is {status_words(status)} and cannot be {DONE_WORDS[action]}; it can be {_either(allowed)}."
