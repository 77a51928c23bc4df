"""Entry point: ``desk-desktop`` (the GUI) and its headless subcommands.

With no subcommand (or only GUI options) the GUI starts; anything else goes to the
headless CLI, which never imports Qt and starts quickly.
"""

import sys

GUI_OPTIONS = {"--self-check", "--database-url"}


def _wants_gui(argv: list[str]) -> bool:
    if not argv:
        return True
    first = argv[0]
    return first.startswith("--") and first.split("=", 1)[0] in GUI_OPTIONS


def main() -> int:
    import multiprocessing

    from desk_desktop.resources import configure_frozen_environment

    multiprocessing.freeze_support()  # the bundle's day planner process (services/dayplan/solver.py)

    configure_frozen_environment()
    argv = sys.argv[1:]
    if _wants_gui(argv):
        from desk_desktop.ui.app import run_gui

        return run_gui(argv)
    from desk_desktop.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
