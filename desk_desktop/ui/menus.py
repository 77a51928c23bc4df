"""The main window's menus: Edit → Preferences; Settings → Catalogs and Work orders; Help → About and Open log folder."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from desk_desktop.config import load_settings
from desk_desktop.logfile import log_dir


def add_app_menus(window: QMainWindow) -> None:
    """Adds the menus to ``window`` (a MainWindow: its ``ctx`` settings are reloaded after Preferences)."""
    bar = window.menuBar()
    edit = bar.addMenu("&Edit")
    preferences = QAction("&Preferences…", window, objectName="PreferencesAction")
    preferences.setShortcut(QKeySequence("Ctrl+,"))
    preferences.setMenuRole(QAction.MenuRole.PreferencesRole)
    preferences.triggered.connect(lambda: show_preferences(window))
    edit.addAction(preferences)
    settings_menu = bar.addMenu("&Settings")
    catalogs = QAction("&Catalogs…", window, objectName="CatalogsAction")
    catalogs.setStatusTip("Categories, skills, customer types and work-order types (administrators change them)")
    catalogs.triggered.connect(lambda: show_catalogs(window))
    settings_menu.addAction(catalogs)
    work = QAction("&Work orders…", window, objectName="WorkSettingsAction")
    work.setStatusTip("Whether completing a ticket's last work order resolves the ticket (administrators change it)")
    work.triggered.connect(lambda: show_work_settings(window))
    settings_menu.addAction(work)
    help_menu = bar.addMenu("&Help")
    about = QAction("&About Desk Dispatcher", window, objectName="AboutAction")
    about.setMenuRole(QAction.MenuRole.AboutRole)
    about.triggered.connect(lambda: show_about(window))
    open_logs = QAction("Open &log folder", window, objectName="OpenLogFolderAction")
    open_logs.triggered.connect(open_log_folder)
    help_menu.addAction(about)
    help_menu.addAction(open_logs)


def show_preferences(window) -> None:
    from desk_desktop.ui.settings import PreferencesDialog

    dialog = PreferencesDialog(window.ctx.settings, window)

    def reload() -> None:
        window.ctx.settings = load_settings().with_database_url(window.ctx.settings.database_url)
        window.statusBar().showMessage("Preferences saved.", 5000)

    dialog.saved.connect(reload)
    window.preferences_dialog = dialog  # reachable by tests
    dialog.open()


def show_catalogs(window) -> None:
    from desk_desktop.ui.catalogs import CatalogsDialog

    dialog = CatalogsDialog(window.ctx, window)
    window.catalogs_dialog = dialog  # reachable by tests
    dialog.open()


def show_work_settings(window) -> None:
    from desk_desktop.ui.work_settings import WorkSettingsDialog

    dialog = WorkSettingsDialog(window.ctx, window)
    window.work_settings_dialog = dialog  # reachable by tests
    dialog.open()


def show_about(window) -> None:
    from desk_desktop.ui.about import AboutDialog

    dialog = AboutDialog(window.ctx, window)
    window.about_dialog = dialog  # reachable by tests
    dialog.open()


def open_log_folder() -> bool:
    from desk_desktop.ui.crash import open_folder

    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return open_folder(folder)
