"""Logging set-up: a rotating log file in the platform's log folder, warnings also on stderr.

The GUI (and the long-running ``scheduler run`` command) call ``configure_logging`` once at
start; the Preferences dialog changes the level with ``set_level``. The folder is
platformdirs' user log folder (``~/.local/state/desk-desktop/log`` on Linux), so a
dispatcher who started the app from the desktop entry still has a file to send.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

LOG_FILE_NAME = "desk-desktop.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def log_dir() -> Path:
    from platformdirs import user_log_dir

    return Path(user_log_dir("desk-desktop", False))


def log_file() -> Path:
    return log_dir() / LOG_FILE_NAME


def configure_logging(level: str) -> Path:
    """Send records at ``level`` and above to the rotating log file, warnings and errors to stderr.

    Returns the log file's path. Calling it again replaces the handlers it installed before.
    """
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "desk_handler", False)]:
        root.removeHandler(handler)
        handler.close()
    to_file = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(FORMAT))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for handler in (to_file, to_stderr):
        handler.desk_handler = True
        root.addHandler(handler)
    set_level(level)
    return path


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level.upper())
