"""The main window over a real database with demo data, as a dispatcher first sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QTableView

from desk_desktop.bootstrap import Workstation, open_database, resolve_actor
from tests.conftest import demo_database, hermetic_settings

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="module")
def demo_db(test_server):
    with demo_database(test_server, "desk_mainwin") as (url, _summary):
        yield url


def _server_version(db) -> str:
    """The server's version as libpq reports it (e.g. 150018 -> "15.18")."""
    with db.engine.connect() as conn:
        number = conn.connection.dbapi_connection.info.server_version
    return f"{number // 10000}.{number % 10000}"


def answer_next_question(button_text: str, seen: list[str]) -> None:
    """Click ``button_text`` in the next message box, the way a person would (its text goes to ``seen``)."""
    tries = iter(range(250))

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if next(tries, None) is not None:
                QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(0, click)


def _tickets_table(window) -> QTableView:
    views = [v for v in window.pages["tickets"].findChildren(QTableView) if v.model() is not None]
    assert views, "the tickets page has no table"
    return max(views, key=lambda v: v.model().rowCount())


def test_main_window_shows_demo_tickets_and_the_database_in_the_status_bar(qtbot, demo_db, tmp_path):
    from desk_desktop.ui.app import apply_style, build_main_window

    settings = hermetic_settings(database_url=demo_db, data_dir=tmp_path)
    db = open_database(settings)
    actor, _ = resolve_actor(db, load_demo_if_empty=False)
    from desk_desktop.bootstrap import describe_identity

    ws = Workstation(settings=settings, db=db, actor=actor, identity=describe_identity(db, actor))
    window = build_main_window(ws)
    qtbot.addWidget(window)
    apply_style(QApplication.instance())
    window.resize(1440, 900)
    window.show()
    window.show_page("tickets")
    try:
        qtbot.waitUntil(lambda: _tickets_table(window).model().rowCount() > 0, timeout=20000)
        qtbot.waitUntil(lambda: window.conn_label.text().endswith("Connected"), timeout=20000)
        assert "shared server" in window.db_label.text()
        assert f"PostgreSQL {_server_version(db)} ·" in window.db_label.text()
        assert "Lakeshore Field Services" in window.org_label.text()
        model = _tickets_table(window).model()
        shown = {str(model.index(r, 0).data()) for r in range(min(model.rowCount(), 50))}
        assert any(s.startswith("TK-2026-") for s in shown), shown
        # The navigation reaches every view.
        for key in ("rules", "map", "tickets"):
            window.show_page(key)
            assert window.stack.currentWidget() is window.pages[key]
        qtbot.wait(300)
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert window.grab().save(str(SHOTS / "main_window.png"))

        # Closing with unsaved rule edits asks first; "Go back" keeps the window and the text.
        rules = window.pages["rules"]
        qtbot.waitUntil(lambda: rules.model.rowCount() > 0 if hasattr(rules, "model") else True, timeout=20000)
        window.show_page("rules")
        rules.form.name_edit.setFocus()
        rules.form.name_edit.end(False)
        qtbot.keyClicks(rules.form.name_edit, " (edited)")
        assert window.unsaved_work() == ["Rules"]

        asked: list[str] = []
        answer_next_question("Go back", asked)
        window.close()
        assert asked == ["You have unsaved changes in Rules."]
        assert window.isVisible()
        assert rules.form.name_edit.text().endswith(" (edited)")
        answer_next_question("Quit without saving", asked)
        window.close()
        assert len(asked) == 2
        assert not window.isVisible()
    finally:
        if window.isVisible():
            answer_next_question("Quit without saving", [])
            window.close()
        ws.shutdown()
        window.deleteLater()  # let Qt delete the pages before Python collects their models
        qtbot.wait(50)
