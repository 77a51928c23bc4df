"""The "Absences" section of the technician editor driven as a dispatcher would (real database
with demo data, real worker threads): add whole days and hours, refused ones explained under
the row, visits already booked inside named, remove; the technicians list shows who is away
today. Saves the screenshot technician_absences.png."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from PySide6.QtCore import QDate, Qt, QTime
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QPushButton, QScrollArea
from sqlalchemy import text

from desk_desktop.services import absences
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.workers import TaskRunner
from tests.conftest import demo_database, hermetic_settings
from tests.ui.test_people_ui import SHOTS, WAIT, WEB_DATA, ctx, demo, loaded, overlay, settle, technicians_page  # noqa: F401
from tests.ui.test_tickets_view import _demo_namespace, isolated_settings, pool  # noqa: F401 - fixtures


def _technician_with_a_visit(ns) -> tuple[int, datetime]:
    """(an active technician, the start of a visit booked for them in 60 days at 10:00 UTC):
    a new order given to them (nobody has visits that far ahead)."""
    start = datetime.combine(datetime.now(UTC).date() + timedelta(days=60), datetime.min.time(), tzinfo=UTC)
    start = start.replace(hour=10)
    with ns.uow_factory() as uow:
        tech = uow.session.execute(text("SELECT min(id) FROM technicians WHERE organization_id = :o AND active"),
                                   {"o": ns.actor.organization_id}).scalar()
        uow.session.execute(text(
            "INSERT INTO work_orders (organization_id, source, work_type, priority, status, technician_id, "
            "duration_minutes, scheduled_start, scheduled_end) VALUES (:o, 'manual', 'repair', 'medium', "
            "'scheduled', :t, 60, :a, :a + interval '1 hour')"),
            {"t": tech, "a": start, "o": ns.actor.organization_id})
        uow.commit()
    return tech, start


def _org_day(ns, at: datetime) -> date:
    from zoneinfo import ZoneInfo

    with ns.uow_factory() as uow:
        tz = uow.session.execute(text("SELECT timezone FROM organizations WHERE id = :o"),
                                 {"o": ns.actor.organization_id}).scalar()
    return at.astimezone(ZoneInfo(tz)).date()


def _set_days(section, first: date, last: date) -> None:
    section.from_date.setDate(QDate(first.year, first.month, first.day))
    section.to_date.setDate(QDate(last.year, last.month, last.day))


def _button(section, absence, text: str) -> QPushButton:
    """The row's Edit or Remove."""
    cell = section.table.cellWidget(section.rows.index(absence), 3)
    return next(b for b in cell.findChildren(QPushButton) if b.text() == text)


def _add(qtbot, section):
    qtbot.mouseClick(section.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: section.add_button.isEnabled(), timeout=WAIT)
    qtbot.waitUntil(lambda: section.ctx.runner.active == 0, timeout=WAIT)


def test_absences_are_added_refused_and_removed_in_the_technician_editor(qtbot, ctx, demo, isolated_settings):  # noqa: F811
    tech, visit_start = _technician_with_a_visit(demo)
    page = technicians_page(qtbot, ctx)
    editor = loaded(qtbot, page.open_editor(tech))
    section = editor.absences
    qtbot.waitUntil(lambda: section.technician_id == tech and ctx.runner.active == 0, timeout=WAIT)
    before = len(section.rows)

    # Whole days over a booked visit: added, and the visit is named (not moved).
    day = _org_day(demo, visit_start)
    _set_days(section, day, day + timedelta(days=1))
    section.reason_combo.setCurrentText("Holiday")
    _add(qtbot, section)
    assert not section.error_label.isVisible()
    assert section.note_label.isVisible() and "inside this absence" in section.note_label.text()
    assert "reschedule or reassign" in section.note_label.text()
    qtbot.waitUntil(lambda: len(section.rows) == before + 1, timeout=WAIT)
    holiday = next(a for a in section.rows if a.reason == "Holiday")
    assert section.table.item(section.rows.index(holiday), 0).text().startswith("From ")

    # Hours inside the holiday: refused, said under the row, nothing added.
    section.whole_days.setChecked(False)
    assert section.from_time.isVisible()
    _set_days(section, day, day)
    section.from_time.setTime(QTime(10, 0))
    section.to_time.setTime(QTime(12, 0))
    section.reason_combo.setCurrentText("Training")
    _add(qtbot, section)
    assert section.error_label.isVisible() and "already; absences cannot overlap" in section.error_label.text()
    # An end before the start: refused with the reason.
    _set_days(section, day + timedelta(days=5), day + timedelta(days=5))
    section.from_time.setTime(QTime(12, 0))
    section.to_time.setTime(QTime(9, 0))
    _add(qtbot, section)
    assert "ends before it starts" in section.error_label.text()
    assert len(section.rows) == before + 1

    # Edit: the row below takes the holiday's values; one more day off, saved, and the list says so.
    qtbot.mouseClick(_button(section, holiday, "Edit"), Qt.MouseButton.LeftButton)
    assert section.add_button.text() == "Save changes" and section.cancel_button.isVisible()
    assert section.whole_days.isChecked() and section.reason_combo.currentText() == "Holiday"
    assert (section.from_date.date().toPython(), section.to_date.date().toPython()) == (day, day + timedelta(days=1))
    _set_days(section, day, day + timedelta(days=2))
    _add(qtbot, section)
    qtbot.waitUntil(lambda: section.add_button.text() == "Add absence" and ctx.runner.active == 0, timeout=WAIT)
    (changed,) = [a for a in absences.list_absences(uow=demo.uow_factory(), actor=demo.actor, technician_id=tech)
                  if a.id == holiday.id]
    assert (changed.all_day, changed.reason) == (True, "Holiday") and len(section.rows) == before + 1
    assert changed.text.endswith(f"{(day + timedelta(days=2)):%a} {(day + timedelta(days=2)).day} "
                                 f"{(day + timedelta(days=2)):%b}")
    assert section.table.item(section.rows.index(changed), 0).text() == changed.text[0].upper() + changed.text[1:]
    # A change that is refused keeps what was typed and stays a change; Cancel adds again.
    qtbot.mouseClick(_button(section, changed, "Edit"), Qt.MouseButton.LeftButton)
    section.whole_days.setChecked(False)
    _set_days(section, day, day)
    section.from_time.setTime(QTime(15, 0))
    section.to_time.setTime(QTime(9, 0))
    _add(qtbot, section)
    assert "ends before it starts" in section.error_label.text()
    assert section.add_button.text() == "Save changes" and section.from_time.time() == QTime(15, 0)
    section.cancel_button.click()
    assert section.add_button.text() == "Add absence" and not section.cancel_button.isVisible()
    holiday = changed

    # Remove: gone from the list and from the database.
    qtbot.mouseClick(_button(section, holiday, "Remove"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(section.rows) == before and ctx.runner.active == 0, timeout=WAIT)
    assert holiday.id not in {a.id for a in absences.list_absences(uow=demo.uow_factory(), actor=demo.actor,
                                                                    technician_id=tech)}
    editor.reject()
    settle(qtbot, ctx)
    page.shutdown()


def test_a_new_technician_gets_absences_after_it_is_saved(qtbot, ctx, isolated_settings):  # noqa: F811
    page = technicians_page(qtbot, ctx)
    editor = loaded(qtbot, page.open_editor(None))
    assert not editor.absences.add_button.isEnabled()
    assert "Save the technician first" in editor.absences.empty_label.text()
    editor.reject()
    settle(qtbot, ctx)
    page.shutdown()


# ------------------------------------------------------------------------------ screenshot
@pytest.fixture(scope="module")
def shots_demo(test_server):
    with demo_database(test_server, "desk_absences_shots", tickets=60) as (url, summary):
        yield from _demo_namespace(url, summary)


def test_screenshot_of_the_absences_section(qtbot, shots_demo, pool, isolated_settings):  # noqa: F811
    from desk_desktop.bootstrap import Database
    from desk_desktop.resources import resource_path
    from desk_desktop.ui.main_window import MainWindow

    ns = shots_demo
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot_ctx = UiContext(uow_factory=ns.uow_factory, actor=ns.actor,
                         settings=hermetic_settings(data_dir=WEB_DATA), runner=TaskRunner(pool=pool))
    tech, _ = _technician_with_a_visit(ns)
    today = _org_day(ns, datetime.now(UTC))
    P = absences.Period  # noqa: N806
    absences.add_absence(uow=ns.uow_factory(), actor=ns.actor, technician_id=tech,
                         period=P(first_day=today, last_day=today), reason="Sick")
    absences.add_absence(uow=ns.uow_factory(), actor=ns.actor, technician_id=tech,
                         period=P(first_day=today + timedelta(days=20), last_day=today + timedelta(days=31)),
                         reason="Holiday")
    later = datetime.combine(today + timedelta(days=40), datetime.min.time())
    absences.add_absence(uow=ns.uow_factory(), actor=ns.actor, technician_id=tech,
                         period=P(start=later.replace(hour=9), end=later.replace(hour=12)), reason="Training")
    try:
        db = Database(url=ns.url, engine=shot_ctx.uow_factory.engine, uow_factory=shot_ctx.uow_factory)
        win = MainWindow(shot_ctx, db_description=db.describe)
        # The application's style sheet on this window (and its dialogs) only: changing the
        # application's re-polishes every other test's widgets too.
        win.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8"))
        qtbot.addWidget(win)
        win.resize(1440, 900)
        win.show()
        win.show_page("technicians")
        page = win.pages["technicians"]
        qtbot.waitUntil(lambda: page.model.rowCount() > 0 and not page.is_loading, timeout=WAIT)
        row = next(r for r in page.model.rows if r.id == tech)
        assert row.away_today == "Sick"  # the list says who is away today
        page.table.selectRow(page.model.row_of(tech))
        editor = loaded(qtbot, page.open_editor(tech))
        editor.resize(1100, 860)
        section = editor.absences
        qtbot.waitUntil(lambda: len(section.rows) == 3 and shot_ctx.runner.active == 0, timeout=WAIT)
        # A refused addition, as the dispatcher would see it.
        _set_days(section, today + timedelta(days=25), today + timedelta(days=26))
        section.reason_combo.setCurrentText("Training")
        _add(qtbot, section)
        assert section.error_label.isVisible()
        scroll = editor.findChild(QScrollArea, "PeopleFormScroll")
        scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
        qtbot.wait(200)
        overlay(win, editor).save(str(SHOTS / "technician_absences.png"))
        pix = QPixmap(str(SHOTS / "technician_absences.png"))
        assert (pix.width(), pix.height()) == (1440, 900)
        editor.reject()
        settle(qtbot, shot_ctx)
        win.close()
    finally:
        pool.waitForDone(30_000)
        QApplication.processEvents()
