"""The application around the views: crash dialog and log file, Preferences, About, where state is kept."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QPushButton

from desk_desktop.config import load_settings
from desk_desktop.logfile import configure_logging

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
def log_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = configure_logging("INFO")
    yield path
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "desk_handler", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.WARNING)


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_the_crash_dialog_and_lands_in_the_log(qtbot, log_file, tmp_path):
    from desk_desktop.ui.crash import CrashReporter

    assert log_file == tmp_path / "state" / "desk-desktop" / "log" / "desk-desktop.log"
    reporter = CrashReporter(log_file)
    reporter.install()
    try:
        button = QPushButton("Refresh")
        qtbot.addWidget(button)

        def refresh() -> None:
            raise RuntimeError("the tickets list lost its model")

        button.clicked.connect(refresh)
        button.show()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible(), timeout=5000)
    finally:
        reporter.uninstall()
    dialog = reporter.dialog
    qtbot.addWidget(dialog)
    assert dialog.message.text() == "RuntimeError: the tickets list lost its model"
    assert str(log_file) in dialog.log_label.text()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text()
    assert copied.startswith("Desk Dispatcher 0.1.0; Python ")
    assert "in refresh" in copied and "RuntimeError: the tickets list lost its model" in copied
    logged = log_file.read_text(encoding="utf-8")
    assert "CRITICAL desk_desktop.ui.crash [MainThread] Uncaught exception" in logged
    assert 'raise RuntimeError("the tickets list lost its model")' in logged
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "crash_dialog.png"))


def test_an_exception_that_ends_a_thread_lands_in_the_log(log_file):
    import threading

    from desk_desktop.ui.crash import CrashReporter

    reporter = CrashReporter(log_file)
    reporter.install()
    try:
        def listen() -> None:
            raise TypeError("notifies() got an unexpected keyword argument 'stop_after'")

        thread = threading.Thread(target=listen, name="desk-listener")
        thread.start()
        thread.join()
    finally:
        reporter.uninstall()
    logged = log_file.read_text(encoding="utf-8")
    assert "CRITICAL desk_desktop.ui.crash [desk-listener] Uncaught exception in thread desk-listener" in logged
    assert "TypeError: notifies() got an unexpected keyword argument 'stop_after'" in logged


def _preferences(qtbot, tmp_path, monkeypatch):
    from desk_desktop.ui.settings import PreferencesDialog

    monkeypatch.setenv("DESK_CONFIG_DIR", str(tmp_path / "config"))
    for var in ("DESK_CLAMD", "DESK_ASSIGN_RADIUS_KM", "DESK_LOG_LEVEL", "DESK_TILE_URL"):
        monkeypatch.delenv(var, raising=False)
    dialog = PreferencesDialog(load_settings())
    qtbot.addWidget(dialog)
    return dialog


def test_preferences_name_a_bad_value_and_write_nothing(qtbot, tmp_path, monkeypatch, log_file):
    dialog = _preferences(qtbot, tmp_path, monkeypatch)
    dialog.show()
    dialog.editors["clamd"].setText("scanner:3310")
    dialog.save()
    toml = tmp_path / "config" / "desk.toml"
    assert dialog.error.isVisible()
    assert dialog.error.text() == (f"clamd in {toml}: 'scanner:3310': expected unix:/path/to/clamd.ctl or tcp:HOST:PORT")
    assert not toml.exists()
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "preferences_error.png"))

    dialog.editors["clamd"].setText("tcp:scanner:3310")
    dialog.editors["assign_radius_km"].setValue(35)
    dialog.editors["log_level"].setCurrentText("DEBUG")
    with qtbot.waitSignal(dialog.saved, timeout=1000):
        dialog.save()
    settings = load_settings()
    assert (settings.clamd_address, settings.assign_radius_km, settings.log_level) == ("tcp:scanner:3310", 35, "DEBUG")
    assert logging.getLogger().level == logging.DEBUG  # the log level applies at once


def test_a_setting_from_the_environment_is_shown_read_only(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DESK_TRAVEL_SPEED_KMH", "55")
    dialog = _preferences(qtbot, tmp_path, monkeypatch)
    editor = dialog.editors["travel_speed_kmh"]
    assert editor.value() == 55 and not editor.isEnabled()
    assert "DESK_TRAVEL_SPEED_KMH" in editor.toolTip()
    assert "travel_speed_kmh" not in dialog.values()


def test_window_state_lives_beside_desk_toml(qapp, monkeypatch, tmp_path):
    from desk_desktop.config import default_dirs
    from desk_desktop.ui.app import create_application

    old = (qapp.organizationName(), qapp.applicationName())
    try:
        app = create_application([])
        assert Path(QSettings().fileName()) == default_dirs()[1] / "desk-desktop.conf"
        assert app.desktopFileName() == "desk-desktop"
    finally:
        qapp.setOrganizationName(old[0])
        qapp.setApplicationName(old[1])


def test_about_shows_the_versions_of_everything_and_the_licences(qtbot, db_url):
    import PySide6
    from PySide6.QtCore import qVersion

    from desk_desktop.config import Settings
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.ui.about import AboutDialog
    from desk_desktop.ui.context import UiContext
    from desk_desktop.ui.workers import TaskRunner

    engine = make_engine(db_url)
    try:
        ctx = UiContext(uow_factory=UnitOfWorkFactory(engine), actor=None, settings=Settings(), runner=TaskRunner())
        dialog = AboutDialog(ctx)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: "asking" not in dialog.version_text(), timeout=10000)
        text = dialog.version_text()
        assert f"Qt {qVersion()}" in text and f"PySide6 {PySide6.__version__}" in text
        assert "Desk Dispatcher 0.1.0" in text
        assert "PostgreSQL 15." in text and "PostGIS 3." in text
        licences = dialog.licences.toPlainText()
        assert "Leaflet 1.9.4 (map) — BSD-2-Clause" in licences and "Copyright (c) 2010-2023, Volodymyr Agafonkin" in licences
        assert "(missing:" not in licences
        SHOTS.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(SHOTS / "about.png"))
    finally:
        engine.dispose()


def test_the_menus_open_preferences_and_the_log_folder(qtbot, tmp_path, monkeypatch, log_file):
    from PySide6.QtGui import QAction, QDesktopServices
    from PySide6.QtWidgets import QMainWindow

    from desk_desktop.ui.menus import add_app_menus

    monkeypatch.setenv("DESK_CONFIG_DIR", str(tmp_path / "config"))
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    window = QMainWindow()
    window.ctx = type("Ctx", (), {"settings": load_settings()})()
    qtbot.addWidget(window)
    add_app_menus(window)
    assert [a.text() for a in window.menuBar().actions()] == ["&Edit", "&Settings", "&Help"]

    window.findChild(QAction, "OpenLogFolderAction").trigger()
    assert opened == [str(log_file.parent)]

    window.findChild(QAction, "PreferencesAction").trigger()
    dialog = window.preferences_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    dialog.editors["assign_radius_km"].setValue(12)
    dialog.save()
    assert window.ctx.settings.assign_radius_km == 12  # the open window uses the saved value
