"""What every view receives: plain collaborators, passed in explicitly (no global app object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from desk_desktop.config import Settings
from desk_desktop.db.session import UnitOfWorkFactory
from desk_desktop.services.common import Actor
from desk_desktop.ui.workers import TaskRunner


class LiveUpdates(QObject):
    """Qt face of LISTEN/NOTIFY: ``changed(entity, id, action)``; ``refresh_all`` after a reconnect."""

    changed = Signal(str, object, str)
    refresh_all = Signal()


@dataclass
class UiContext:
    uow_factory: UnitOfWorkFactory
    actor: Actor
    settings: Settings
    runner: TaskRunner
    live: LiveUpdates = field(default_factory=LiveUpdates)
    # The in-process scheduler (desk_desktop.jobs.scheduler), if running: views may call
    # ``scheduler.kick("assign")`` after a change that creates work.
    scheduler: Any = None
