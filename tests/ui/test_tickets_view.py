"""The tickets view driven as a dispatcher would: filters and search, Enter to open,
editing, the new-ticket dialog, dropping files (clean, infected, too large) and changes
from another workstation — against a real database (demo data), real worker threads and
a real clamd. Also saves the screenshots under build/screenshots/."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QThreadPool, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPainter, QPixmap
from PySide6.QtWidgets import QApplication
from sqlalchemy import text
from sqlalchemy.engine import make_url

from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import attachments as attachment_service
from desk_desktop.services import tickets as ticket_service
from desk_desktop.services.common import Actor
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.tickets.model import COL_NUMBER, ROLE_SUMMARY, ROLE_TICKET_ID, FilterState
from desk_desktop.ui.tickets.page import TicketsPage
from desk_desktop.ui.tickets.style import SCAN_BADGES
from desk_desktop.ui.workers import TaskRunner
from tests.conftest import demo_database, hermetic_settings

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
WAIT = 20_000
SCAN_PENDING_LABEL = SCAN_BADGES["pending"][0]


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def demo(test_server):
    """One database with the lead's demo organization, shared by this module's tests."""
    with demo_database(test_server, "desk_tickets_ui", tickets=70) as (url, summary):
        yield from _demo_namespace(url, summary)


def _demo_namespace(url, summary):
    engine = make_engine(url)
    uow_factory = UnitOfWorkFactory(engine)
    actor = Actor(organization_id=summary.organization_id, name="dana.whitfield", is_admin=True)
    try:
        yield SimpleNamespace(url=url, engine=engine, uow_factory=uow_factory, actor=actor, summary=summary)
    finally:
        engine.dispose()


@pytest.fixture
def isolated_settings(qapp, tmp_path):
    """QSettings in a throw-away folder (the page keeps filters and columns there)."""
    old = (QSettings.defaultFormat(), qapp.organizationName(), qapp.applicationName())
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    qapp.setOrganizationName("DeskDispatcherTests")
    qapp.setApplicationName("tickets-view")
    QSettings().clear()
    yield tmp_path
    QSettings.setDefaultFormat(old[0])
    qapp.setOrganizationName(old[1])
    qapp.setApplicationName(old[2])


@pytest.fixture
def pool():
    p = QThreadPool()
    p.setMaxThreadCount(4)
    yield p
    p.waitForDone(30_000)


def make_ctx(demo, pool, settings=None):
    return UiContext(uow_factory=demo.uow_factory, actor=demo.actor, settings=settings or hermetic_settings(),
                     runner=TaskRunner(pool=pool))


@pytest.fixture
def ctx(demo, pool):
    return make_ctx(demo, pool)


@pytest.fixture
def page(qtbot, ctx, isolated_settings, pool):
    p = TicketsPage(ctx)
    qtbot.addWidget(p)
    p.resize(1272, 860)
    p.show()
    wait_loaded(qtbot, p)
    yield p
    p.shutdown()
    pool.waitForDone(30_000)
    QApplication.processEvents()


def _open_new_ticket_dialog():
    """The new-ticket dialog on screen, if any (as a person sees it: a visible window)."""
    from desk_desktop.ui.tickets.new_ticket import NewTicketDialog

    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, NewTicketDialog) and w.isVisible()]
    return shown[0] if shown else None


def _row_of(panel, attachment_id: int):
    """The attachments panel's row showing stored attachment ``attachment_id``."""
    return next(r for r in panel.rows() if r.info is not None and r.info.id == attachment_id)


def wait_loaded(qtbot, page):
    qtbot.waitUntil(lambda: page.model.rowCount() > 0 and not page.model.is_loading
                    and page.model.total is not None, timeout=WAIT)


def settle(qtbot, page):
    """Let every background request of a page finish while its widgets still exist."""
    qtbot.waitUntil(lambda: page.ctx.runner.active == 0, timeout=WAIT)
    page.shutdown()
    QApplication.processEvents()


def rows(page):
    m = page.model
    return [m.index(r, 0).data(ROLE_SUMMARY) for r in range(m.rowCount())]


def count(demo, **filters):
    from desk_desktop.services.tickets import TicketFilter

    return ticket_service.count_tickets(uow=demo.uow_factory(), actor=demo.actor, filters=TicketFilter(**filters))


def new_ticket(demo, subject="Leaking radiator valve in lobby", **kw):
    customer = ticket_service.list_customers(uow=demo.uow_factory(), actor=demo.actor, text="Lakeview")[0]
    fields = dict(subject=subject, category="plumbing", priority="medium", customer_id=customer.id)
    fields.update(kw)
    return ticket_service.create_ticket(uow=demo.uow_factory(), actor=demo.actor, **fields)


def open_in_detail(qtbot, page, ticket_id):
    page.open_ticket(ticket_id)
    qtbot.waitUntil(lambda: page.detail.data is not None and page.detail.data.ticket.id == ticket_id
                    and page.detail.attachments.ticket_id == ticket_id, timeout=WAIT)


def drop_files(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the panel accepts file drags"
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop


def png_bytes(w=640, h=480) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), (70, 110, 150))
    draw = ImageDraw.Draw(img)
    draw.rectangle([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=(230, 200, 120))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def pdf_bytes(pages_text: str = "Service report") -> bytes:
    body = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n")
    return body + (f"% {pages_text}\n" * 400).encode() + b"trailer << /Root 1 0 R >>\n%%EOF\n"


def attachment_count(demo, ticket_id):
    with demo.uow_factory() as uow:
        return uow.session.execute(text("SELECT count(*) FROM attachments WHERE ticket_id = :t"),
                                   {"t": ticket_id}).scalar_one()


# ------------------------------------------------------------------------- the queue
def test_filters_and_search_change_the_rows_and_are_kept_between_runs(qtbot, page, demo, ctx, pool):
    total = count(demo)
    assert page.model.total == total
    assert page.range_label.text().endswith(f"of {total:,} tickets")

    page.priority_filter.action_for("urgent").trigger()
    urgent = count(demo, priority=("urgent",))
    qtbot.waitUntil(lambda: page.model.total == urgent and not page.model.is_loading, timeout=WAIT)
    assert 0 < urgent < total
    assert {t.priority for t in rows(page)} == {"urgent"}
    assert page.priority_filter.text() == "Priority: Urgent"

    page.priority_filter.set_selected(())
    qtbot.waitUntil(lambda: page.model.total == total and not page.model.is_loading, timeout=WAIT)
    page.search_edit.setFocus()
    qtbot.keyClicks(page.search_edit, "burst pipe")
    burst = count(demo, text="burst pipe")
    assert burst > 0
    qtbot.waitUntil(lambda: page.model.total == burst and not page.model.is_loading, timeout=WAIT)
    assert all("burst pipe" in t.subject.lower() for t in rows(page))

    page.status_filter.action_for("new").trigger()
    both = count(demo, text="burst pipe", status=("new",))
    qtbot.waitUntil(lambda: page.model.total == both and not page.model.is_loading, timeout=WAIT)
    assert all(t.status == "new" for t in rows(page))

    # The next run starts with the same filters.
    page.shutdown()
    again = TicketsPage(make_ctx(demo, pool))
    qtbot.addWidget(again)
    assert again.search_edit.text() == "burst pipe"
    assert again.status_filter.selected() == ("new",)
    qtbot.waitUntil(lambda: again.model.total == both and not again.model.is_loading, timeout=WAIT)
    assert again.model.filters == FilterState(statuses=("new",), text="burst pipe")
    again.clear_filters()
    qtbot.waitUntil(lambda: again.model.total == total and not again.model.is_loading, timeout=WAIT)
    settle(qtbot, again)


def test_keyboard_enter_opens_the_detail_and_ctrl_f_focuses_search(qtbot, page):
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: page.table.currentIndex().isValid(), timeout=WAIT)
    qtbot.keyClick(page.table, Qt.Key.Key_Down)
    qtbot.keyClick(page.table, Qt.Key.Key_Down)
    current = page.table.currentIndex()
    assert current.row() == 2
    wanted = current.data(ROLE_TICKET_ID)
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.detail.data is not None and page.detail.data.ticket.id == wanted, timeout=WAIT)
    assert page.detail.number_label.text() == current.siblingAtColumn(COL_NUMBER).data()
    qtbot.waitUntil(lambda: page.detail.subject_edit.hasFocus(), timeout=WAIT)
    qtbot.keyClick(page.detail.subject_edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: page.table.hasFocus(), timeout=WAIT)
    assert page.table.currentIndex().data(ROLE_TICKET_ID) == wanted

    qtbot.keyClick(page, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: page.search_edit.hasFocus(), timeout=WAIT)


def test_jump_to_the_last_row(qtbot, page, demo):
    total = count(demo)
    page.model._page_size = 20  # noqa: SLF001 - a small page so that the end is not loaded yet
    page.model.refresh()
    qtbot.waitUntil(lambda: page.model.rowCount() == 20 and not page.model.is_loading, timeout=WAIT)
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: page.model.anchor == "end" and not page.model.is_loading, timeout=WAIT)
    qtbot.waitUntil(lambda: page.table.currentIndex().row() == page.model.rowCount() - 1, timeout=WAIT)
    oldest = ticket_service.list_tickets(uow=demo.uow_factory(), actor=demo.actor, sort="created_asc", limit=1).rows[0]
    assert page.table.currentIndex().data(ROLE_TICKET_ID) == oldest.id
    assert page.range_label.text() == f"Showing {total - 19:,}–{total:,} of {total:,} tickets"


# ------------------------------------------------------------------------- the detail pane
def test_editing_and_saving_persists(qtbot, page, demo):
    ticket = new_ticket(demo, subject="Noisy boiler in basement").ticket
    open_in_detail(qtbot, page, ticket.id)
    d = page.detail
    assert not d.save_button.isEnabled()
    d.subject_edit.selectAll()
    qtbot.keyClicks(d.subject_edit, "Boiler banging loudly at night")
    d.priority_combo.setCurrentIndex(d.priority_combo.findData("high"))
    d.tags_edit.setFocus()
    qtbot.keyClicks(d.tags_edit, "night, noise")
    assert d.dirty_label.text() == "Unsaved changes"
    assert d.save_button.isEnabled()
    qtbot.mouseClick(d.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.banner.isVisible() and d.banner.text() == "Saved." and not d.is_dirty(), timeout=WAIT)

    stored = ticket_service.get_ticket_or_raise(uow=demo.uow_factory(), actor=demo.actor, ticket_id=ticket.id)
    assert stored.subject == "Boiler banging loudly at night"
    assert stored.priority == "high"
    assert stored.tags == ("night", "noise")
    qtbot.waitUntil(lambda: d.title_label.text() == "Boiler banging loudly at night", timeout=WAIT)
    qtbot.waitUntil(lambda: any("Changed" in (h.summary or "") for h in d.data.history), timeout=WAIT)
    # The queue shows the change too.
    qtbot.waitUntil(lambda: any(t.id == ticket.id and t.subject == "Boiler banging loudly at night"
                                for t in rows(page)), timeout=WAIT)

    # A status action allowed by the current status.
    assert set(d.status_buttons) == set(ticket_service.allowed_status_changes("new"))
    qtbot.mouseClick(d.status_buttons["open"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.data.ticket.status == "open" and d.status_chip.text() == "Open", timeout=WAIT)
    assert "closed" not in d.status_buttons and "pending" in d.status_buttons


def test_unsaved_edits_survive_switching_tickets(qtbot, page, demo):
    first = new_ticket(demo, subject="Gate motor grinding").ticket
    second = new_ticket(demo, subject="Lobby door sticks").ticket
    open_in_detail(qtbot, page, first.id)
    d = page.detail
    d.subject_edit.selectAll()
    qtbot.keyClicks(d.subject_edit, "Gate motor grinding and stalling")
    open_in_detail(qtbot, page, second.id)
    assert d.subject_edit.text() == "Lobby door sticks" and not d.is_dirty()
    open_in_detail(qtbot, page, first.id)
    assert d.subject_edit.text() == "Gate motor grinding and stalling"
    assert d.is_dirty() and d.save_button.isEnabled()
    assert "unsaved edits" in d.banner.text()


def test_an_invalid_edit_shows_the_message_and_keeps_the_text(qtbot, page, demo):
    ticket = new_ticket(demo, subject="Door closer broken").ticket
    open_in_detail(qtbot, page, ticket.id)
    d = page.detail

    # Checked as the dispatcher types.
    d.subject_edit.selectAll()
    qtbot.keyClick(d.subject_edit, Qt.Key.Key_Delete)
    assert d.errors["subject"].isVisible()
    assert d.errors["subject"].text() == "The subject cannot be empty."
    assert not d.save_button.isEnabled()
    qtbot.keyClicks(d.subject_edit, "Door closer broken on fire exit")
    assert not d.errors["subject"].isVisible()

    # Refused by the service: the message is shown under the field, nothing is lost.
    long_tag = "x" * 45
    d.tags_edit.setFocus()
    qtbot.keyClicks(d.tags_edit, f"urgent-fix, {long_tag}")
    qtbot.mouseClick(d.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.errors["tags"].isVisible(), timeout=WAIT)
    assert "longer than 40 characters" in d.errors["tags"].text()
    assert d.banner.isVisible() and "Not saved" in d.banner.text()
    assert d.tags_edit.text() == f"urgent-fix, {long_tag}"
    assert d.subject_edit.text() == "Door closer broken on fire exit"
    assert d.is_dirty() and d.save_button.isEnabled()
    stored = ticket_service.get_ticket_or_raise(uow=demo.uow_factory(), actor=demo.actor, ticket_id=ticket.id)
    assert stored.subject == "Door closer broken" and stored.tags == ()

    # Fixing it saves.
    d.tags_edit.setText("urgent-fix")
    d.tags_edit.textEdited.emit("urgent-fix")
    qtbot.mouseClick(d.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.banner.text() == "Saved.", timeout=WAIT)
    stored = ticket_service.get_ticket_or_raise(uow=demo.uow_factory(), actor=demo.actor, ticket_id=ticket.id)
    assert stored.subject == "Door closer broken on fire exit" and stored.tags == ("urgent-fix",)


# ------------------------------------------------------------------------- new ticket
def test_new_ticket_dialog_creates_a_ticket_and_tells_what_the_rule_did(qtbot, page, demo):
    qtbot.keyClick(page, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: _open_new_ticket_dialog() is not None, timeout=WAIT)
    dlg = _open_new_ticket_dialog()

    # Inline validation: nothing is created without a customer and a subject.
    qtbot.mouseClick(dlg.create_button, Qt.MouseButton.LeftButton)
    assert dlg.errors["customer"].text() == "Choose the customer from the list."
    assert dlg.errors["subject"].text() == "Give the ticket a subject."
    assert dlg.created is None

    qtbot.keyClicks(dlg.customer_edit, "Lakeview")
    qtbot.waitUntil(lambda: dlg.customer_list.isVisible() and dlg.customer_list.count() == 1, timeout=WAIT)
    item = dlg.customer_list.item(0)
    assert item.text().startswith("Lakeview Family Clinic")
    rect = dlg.customer_list.visualItemRect(item)
    qtbot.mouseClick(dlg.customer_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: dlg.site_combo.isEnabled(), timeout=WAIT)
    assert not dlg.errors["customer"].isVisible()
    dlg.category_combo.setCurrentIndex(dlg.category_combo.findData("hvac"))
    dlg.priority_combo.setCurrentIndex(dlg.priority_combo.findData("high"))
    qtbot.keyClicks(dlg.subject_edit, "Exam room 3 too warm")
    qtbot.keyClicks(dlg.description_edit, "AC blowing warm air since the morning.")
    qtbot.mouseClick(dlg.create_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.created is not None, timeout=WAIT)

    created = dlg.created
    number = created.ticket.number
    assert number.startswith("TK-")
    assert number in dlg.banner.text()
    assert created.work_order is not None  # "Commercial HVAC repairs" matches a business HVAC ticket
    assert "Commercial HVAC repairs" in dlg.banner.text()
    assert created.work_order.number in dlg.banner.text()
    assert "assigned automatically" in dlg.banner.text()
    stored = ticket_service.get_ticket_or_raise(uow=demo.uow_factory(), actor=demo.actor, number=number)
    assert stored.subject == "Exam room 3 too warm" and stored.customer_name == "Lakeview Family Clinic"
    assert stored.work_order is not None and stored.work_order.rule_name == "Commercial HVAC repairs"

    # The queue shows it, and "Open ticket" opens it.
    qtbot.waitUntil(lambda: any(t.number == number for t in rows(page)), timeout=WAIT)
    qtbot.mouseClick(dlg.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.detail.data is not None and page.detail.data.ticket.number == number, timeout=WAIT)
    assert "Commercial HVAC repairs" in page.detail.work_order.values["rule"].text()


# ------------------------------------------------------------------------- attachments
@pytest.fixture
def scanning_ctx(demo, pool, clamd):
    return make_ctx(demo, pool, hermetic_settings(clamd_address=clamd.address, clamd_timeout=10))


@pytest.fixture
def upload_page(qtbot, scanning_ctx, isolated_settings, pool):
    p = TicketsPage(scanning_ctx)
    qtbot.addWidget(p)
    p.resize(1272, 860)
    p.show()
    wait_loaded(qtbot, p)
    yield p
    p.shutdown()
    pool.waitForDone(30_000)
    QApplication.processEvents()


def test_dropping_files_uploads_them_with_progress_and_shows_category_and_scan(qtbot, upload_page, demo, tmp_path):
    page = upload_page
    ticket = new_ticket(demo, subject="Water damage after storm").ticket
    open_in_detail(qtbot, page, ticket.id)
    panel = page.detail.attachments

    photo = tmp_path / "ceiling-stain.png"
    photo.write_bytes(png_bytes())
    report = tmp_path / "inspection-report.pdf"
    report.write_bytes(pdf_bytes())
    log = tmp_path / "meter-readings.txt"
    log.write_bytes(b"reading,value\n" + b"2026-11-25T08:00,12.5\n" * 150_000)  # ~3.3 MB: several chunks
    progress_seen: dict[str, list[int]] = {}

    drop = drop_files(panel, [photo, report, log])
    assert drop.isAccepted()
    uploading = panel.rows()
    assert len(uploading) == 3 and all(r.state == "uploading" for r in uploading)
    for r in uploading:
        progress_seen[r.name] = []
        r.progress.valueChanged.connect(lambda v, n=r.name: progress_seen[n].append(v))

    qtbot.waitUntil(lambda: len(panel.rows()) == 3 and all(r.state == "stored" for r in panel.rows())
                    and all(r.info.scan_status == "clean" for r in panel.rows()), timeout=60_000)
    by_name = {r.info.original_name: r for r in panel.rows()}
    assert set(by_name) == {"ceiling-stain.png", "inspection-report.pdf", "meter-readings.txt"}
    assert by_name["ceiling-stain.png"].info.category == "image"
    assert by_name["inspection-report.pdf"].info.category == "document"
    for r in panel.rows():
        assert r.scan_badge.text() == "Clean"
        assert r.info.category.capitalize() in r.meta_label.text()
        assert r.open_button.isEnabled() and r.save_button.isEnabled()
    qtbot.waitUntil(lambda: panel.rows() and by_name["ceiling-stain.png"].icon.toolTip() == "Thumbnail",
                    timeout=WAIT)
    # The big file reported progress more than once, up to complete, on the GUI thread.
    steps = progress_seen["meter-readings.txt"]
    assert len(steps) >= 3 and steps[-1] == 1000 and steps == sorted(steps)
    assert page.detail.attachments_heading.text() == "Attachments (3)"
    assert attachment_count(demo, ticket.id) == 3

    # Public/private toggle is stored.
    row = by_name["inspection-report.pdf"]
    row.public_check.click()
    qtbot.waitUntil(lambda: attachment_service.list_attachments(
        uow=demo.uow_factory(), actor=demo.actor, ticket_id=ticket.id) and any(
        a.is_public for a in attachment_service.list_attachments(uow=demo.uow_factory(), actor=demo.actor,
                                                                  ticket_id=ticket.id)), timeout=WAIT)

    # Save as… is a tracked download.
    target = tmp_path / "copy.pdf"
    panel.ask_save_path = lambda suggested: str(target)
    qtbot.mouseClick(row.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: target.exists() and target.read_bytes() == report.read_bytes(), timeout=WAIT)
    qtbot.waitUntil(lambda: "downloaded 1×" in _row_of(panel, row.info.id).meta_label.text(), timeout=WAIT)

    # Open hands a downloaded copy to the default application (also counted).
    opened = []
    panel.open_local_file = opened.append
    photo_row = _row_of(panel, by_name["ceiling-stain.png"].info.id)
    qtbot.mouseClick(photo_row.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(opened), timeout=WAIT)
    assert Path(opened[0]).read_bytes() == photo.read_bytes()
    qtbot.waitUntil(lambda: "downloaded 1×" in _row_of(panel, photo_row.info.id).meta_label.text(), timeout=WAIT)

    # A folder is refused with a reason, the files next to it are attached.
    folder = tmp_path / "site-photos"
    folder.mkdir()
    drop_files(panel, [folder])
    qtbot.waitUntil(lambda: any(r.state == "failed" for r in panel.rows()), timeout=WAIT)
    failed = next(r for r in panel.rows() if r.state == "failed")
    assert "is a folder" in failed.meta_label.text()
    assert attachment_count(demo, ticket.id) == 3


def test_dropping_an_infected_file_shows_it_quarantined(qtbot, upload_page, demo, tmp_path):
    from tests.clamd_util import EICAR

    page = upload_page
    ticket = new_ticket(demo, subject="Suspicious invoice attached by customer").ticket
    open_in_detail(qtbot, page, ticket.id)
    panel = page.detail.attachments
    eicar = tmp_path / "invoice-2291.txt"
    eicar.write_bytes(EICAR)
    drop_files(panel, [eicar])
    qtbot.waitUntil(lambda: panel.rows() and panel.rows()[0].state == "stored"
                    and panel.rows()[0].info.scan_status == "infected", timeout=60_000)
    row = panel.rows()[0]
    assert row.scan_badge.text() == "Infected"
    signature = row.info.scan_signature
    assert signature and signature in row.meta_label.text()
    assert "Quarantined" in row.meta_label.text()
    assert not row.open_button.isEnabled()
    # Only an administrator may save a copy, with a reason that is audited.
    assert demo.actor.is_admin and row.save_button.isEnabled() and row.save_button.text() == "Admin copy…"
    target = tmp_path / "quarantined-copy.bin"
    panel.ask_override_reason = lambda name: "Send to the security team for analysis"
    panel.ask_save_path = lambda suggested: str(target)
    qtbot.mouseClick(row.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: target.exists(), timeout=WAIT)
    assert target.read_bytes() == EICAR

    def audited():
        with demo.uow_factory() as uow:
            return uow.session.execute(text(
                "SELECT count(*) FROM audit_log WHERE organization_id = :o AND entity = 'attachment' "
                "AND action = 'attachment.quarantine_override' AND entity_id = :a "
                "AND details->>'reason' = 'Send to the security team for analysis'"),
                {"o": demo.actor.organization_id, "a": row.info.id}).scalar_one()

    qtbot.waitUntil(lambda: audited() == 1, timeout=WAIT)
    # The attention list counts it and names it.
    page.attention.refresh()
    qtbot.waitUntil(lambda: any("invoice-2291.txt" in t for t in page.attention.item_texts("quarantined")),
                    timeout=WAIT)
    assert page.list_tabs.tabText(1).startswith("Needs attention (")


def test_dropping_a_too_large_or_refused_file_says_why_and_stores_nothing(qtbot, upload_page, demo, tmp_path):
    page = upload_page
    ticket = new_ticket(demo, subject="Site survey video").ticket
    with demo.uow_factory() as uow:
        old = uow.session.execute(text("SELECT max_attachment_bytes FROM organizations WHERE id = :o"),
                                  {"o": demo.actor.organization_id}).scalar_one()
        uow.session.execute(text("UPDATE organizations SET max_attachment_bytes = :b WHERE id = :o"),
                            {"b": 1024 * 1024, "o": demo.actor.organization_id})
        uow.commit()
    try:
        open_in_detail(qtbot, page, ticket.id)
        panel = page.detail.attachments
        big = tmp_path / "walkthrough.mp4"
        big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (2 * 1024 * 1024))
        drop_files(panel, [big])
        qtbot.waitUntil(lambda: panel.rows() and panel.rows()[0].state == "failed", timeout=WAIT)
        row = panel.rows()[0]
        assert "1 MiB" in row.meta_label.text()
        assert "walkthrough.mp4" in row.meta_label.text()
        assert row.scan_badge.text() == "Not attached"
        assert attachment_count(demo, ticket.id) == 0
        qtbot.mouseClick(row.dismiss_button, Qt.MouseButton.LeftButton)
        assert panel.rows() == []

        # A program disguised as a document is refused, and the row says why.
        disguised = tmp_path / "quote.pdf"
        disguised.write_bytes(b"MZ\x90\x00\x03" + b"\x00" * 58 + b"PE\x00\x00" + b"\x00" * 4000)
        drop_files(panel, [disguised])
        qtbot.waitUntil(lambda: panel.rows() and panel.rows()[0].state == "failed", timeout=WAIT)
        message = panel.rows()[0].meta_label.text()
        assert "quote.pdf" in message and "program" in message and "not accepted" in message
        assert attachment_count(demo, ticket.id) == 0
    finally:
        with demo.uow_factory() as uow:
            uow.session.execute(text("UPDATE organizations SET max_attachment_bytes = :b WHERE id = :o"),
                                {"b": old, "o": demo.actor.organization_id})
            uow.commit()


# ------------------------------------------------------------------------- live updates
def test_a_change_committed_elsewhere_appears_and_keeps_the_selection(qtbot, page, demo, ctx):
    page.table.selectRow(12)
    qtbot.waitUntil(lambda: page.table.currentIndex().isValid(), timeout=WAIT)
    selected_id = page.table.currentIndex().data(ROLE_TICKET_ID)
    bar = page.table.verticalScrollBar()
    bar.setValue(5)
    scrolled = bar.value()
    assert scrolled == 5

    other_engine = make_engine(demo.url)  # another workstation: its own connection
    try:
        other = UnitOfWorkFactory(other_engine)
        customer = ticket_service.list_customers(uow=other(), actor=demo.actor, text="Prairie")[0]
        created = ticket_service.create_ticket(uow=other(), actor=demo.actor, subject="Vault door sensor alarm",
                                               category="security", priority="urgent", customer_id=customer.id)
    finally:
        other_engine.dispose()
    ctx.live.changed.emit("ticket", created.ticket.id, "created")
    qtbot.waitUntil(lambda: any(t.number == created.ticket.number for t in rows(page)), timeout=WAIT)
    assert rows(page)[0].number == created.ticket.number
    assert page.table.currentIndex().data(ROLE_TICKET_ID) == selected_id
    assert page.table.currentIndex().row() == 13  # one row was added above it
    assert page.table.selectionModel().selectedRows()[0].data(ROLE_TICKET_ID) == selected_id
    assert bar.value() == scrolled  # the view did not jump back to the top


def test_sorting_from_the_header_is_kept_between_runs(qtbot, page, demo, pool):
    page._on_header_section_clicked(COL_NUMBER)  # noqa: SLF001 - what a header click calls
    qtbot.waitUntil(lambda: page.model.sort_key == "number_asc" and not page.model.is_loading, timeout=WAIT)
    numbers = [t.number for t in rows(page)]
    assert numbers == sorted(numbers) and len(numbers) == min(200, page.model.total)
    assert page.table.horizontalHeader().sortIndicatorSection() == COL_NUMBER
    page._on_header_section_clicked(COL_NUMBER)  # noqa: SLF001 - again: the other way round
    qtbot.waitUntil(lambda: page.model.sort_key == "number_desc" and not page.model.is_loading, timeout=WAIT)
    numbers = [t.number for t in rows(page)]
    assert numbers == sorted(numbers, reverse=True)
    again = TicketsPage(make_ctx(demo, pool))
    qtbot.addWidget(again)
    assert again.model.sort_key == "number_desc"
    qtbot.waitUntil(lambda: again.model.rowCount() > 0 and not again.model.is_loading, timeout=WAIT)
    assert [t.number for t in rows(again)] == numbers
    settle(qtbot, again)


# ------------------------------------------------------------------------- screenshots
def _main_window(ctx, url: str):
    """The real main window over ``url``, its status bar describing that database."""
    from desk_desktop.bootstrap import Database
    from desk_desktop.ui.main_window import MainWindow

    db = Database(url=url, engine=ctx.uow_factory.engine, uow_factory=ctx.uow_factory)
    win = MainWindow(ctx, db_description=db.describe)
    win.show_page("tickets")
    return win, win.pages["tickets"]


def _side_by_side(a, b) -> bool:
    """``b`` is to the right of ``a`` (two columns), as a dispatcher sees them."""
    return a.isVisible() and b.isVisible() and b.mapToGlobal(QPoint(0, 0)).x() >= a.mapToGlobal(
        QPoint(a.width(), 0)).x()


@pytest.fixture(scope="module")
def pristine_demo(test_server):
    """The demo data exactly as a dispatcher first sees it (no test tickets)."""
    with demo_database(test_server, "desk_tickets_shots", tickets=120) as (url, summary):
        yield from _demo_namespace(url, summary)


def test_screenshots(qtbot, pristine_demo, pool, clamd, isolated_settings, tmp_path):
    from desk_desktop.resources import resource_path

    demo = pristine_demo

    app = QApplication.instance()
    old_style = app.styleSheet()
    app.setStyleSheet(resource_path("styles", "app.qss").read_text(encoding="utf-8"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = make_ctx(demo, pool, hermetic_settings(clamd_address=clamd.address, clamd_timeout=10))
    try:
        win, page = _main_window(ctx, demo.url)
        qtbot.addWidget(win)
        win.resize(1440, 900)
        win.show()
        wait_loaded(qtbot, page)

        # A ticket with a scheduled work order, a photo and a report.
        target = next(t for t in rows(page) if t.technician_name and t.scheduled_start and t.status == "new") \
            if any(t.technician_name and t.scheduled_start and t.status == "new" for t in rows(page)) \
            else next(t for t in rows(page) if t.technician_name)
        photo = tmp_path / "condenser-coil.png"
        photo.write_bytes(png_bytes(800, 600))
        report = tmp_path / "site-checklist.pdf"
        report.write_bytes(pdf_bytes("Checklist"))
        for p in (photo, report):
            attachment_service.add_attachment(uow_factory=demo.uow_factory, actor=demo.actor, ticket_id=target.id,
                                              source=str(p), scanner=_scanner(clamd))
        page.model.reload_in_place()
        qtbot.waitUntil(lambda: not page.model.is_loading, timeout=WAIT)
        page.table.selectRow(page.model.row_of(target.id))
        qtbot.waitUntil(lambda: page.detail.data is not None and page.detail.data.ticket.id == target.id
                        and len(page.detail.attachments.rows()) == 2, timeout=WAIT)
        from desk_desktop.ui.tickets.attention import load_attention

        needing = load_attention(demo.uow_factory, demo.actor).total
        assert needing > 0  # the demo has work needing attention: the tab shows how much
        qtbot.waitUntil(lambda: page.list_tabs.tabText(1) == f"Needs attention ({needing})", timeout=WAIT)
        qtbot.waitUntil(lambda: win.conn_label.text().endswith("Connected"), timeout=WAIT)
        qtbot.wait(300)
        win.grab().save(str(SHOTS / "tickets_list.png"))

        page.splitter.setSizes([360, 1100])
        qtbot.waitUntil(lambda: _side_by_side(page.detail.form_card, page.detail.work_order), timeout=WAIT)
        qtbot.wait(300)
        win.grab().save(str(SHOTS / "tickets_detail.png"))
        page.splitter.setSizes([800, 480])

        from desk_desktop.ui.tickets.new_ticket import NewTicketDialog

        dlg = NewTicketDialog(ctx, win)
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.keyClicks(dlg.customer_edit, "Magnificent")
        qtbot.waitUntil(lambda: dlg.customer_list.count() == 1 and dlg.customer_list.isVisible(), timeout=WAIT)
        qtbot.mouseClick(dlg.customer_list.viewport(), Qt.MouseButton.LeftButton,
                         pos=dlg.customer_list.visualItemRect(dlg.customer_list.item(0)).center())
        qtbot.waitUntil(lambda: dlg.site_combo.isEnabled(), timeout=WAIT)
        dlg.category_combo.setCurrentIndex(dlg.category_combo.findData("hvac"))
        dlg.priority_combo.setCurrentIndex(dlg.priority_combo.findData("high"))
        dlg.tags_edit.setText("cooling")
        qtbot.keyClicks(dlg.subject_edit, "Ballroom AC not cooling before evening event")
        dlg.description_edit.setPlainText("Banquet manager reports 81°F in the Grand Ballroom; 300 guests "
                                          "expected at 6 pm. Loading dock entrance, ask for Marco.")
        qtbot.mouseClick(dlg.create_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dlg.created is not None, timeout=WAIT)
        qtbot.wait(200)
        shot = win.grab()
        painter = QPainter(shot)
        painter.fillRect(shot.rect(), QColor(20, 30, 45, 110))
        dialog_pix: QPixmap = dlg.grab()
        x = (shot.width() - dialog_pix.width()) // 2
        y = max(20, (shot.height() - dialog_pix.height()) // 2)
        painter.fillRect(x - 1, y - 1, dialog_pix.width() + 2, dialog_pix.height() + 2, QColor("#9aa6b4"))
        painter.drawPixmap(x, y, dialog_pix)
        painter.end()
        shot.save(str(SHOTS / "new_ticket_dialog.png"))
        dlg.close()
        for name in ("tickets_list.png", "tickets_detail.png", "new_ticket_dialog.png"):
            pix = QPixmap(str(SHOTS / name))
            assert (pix.width(), pix.height()) == (1440, 900), name
        qtbot.waitUntil(lambda: ctx.runner.active == 0, timeout=WAIT)
        QApplication.processEvents()
        win.close()  # the main window shuts its pages down
    finally:
        pool.waitForDone(30_000)
        QApplication.processEvents()
        app.setStyleSheet(old_style)


def _scanner(clamd):
    from desk_desktop.services.scanning import ClamdScanner

    return ClamdScanner(clamd.address, timeout=10)


def test_assignee_filter_lists_technicians_and_filters(qtbot, page, demo):
    qtbot.waitUntil(lambda: page.assignee_combo.count() > 2, timeout=WAIT)
    assigned = next(t for t in rows(page) if t.technician_name)
    index = page.assignee_combo.findText(f"Assignee: {assigned.technician_name}")
    assert index > 1
    tech_id = page.assignee_combo.itemData(index)
    page.assignee_combo.setCurrentIndex(index)
    expected = count(demo, technician_id=tech_id)
    qtbot.waitUntil(lambda: page.model.total == expected and not page.model.is_loading, timeout=WAIT)
    assert {t.technician_name for t in rows(page)} == {assigned.technician_name}

    page.assignee_combo.setCurrentIndex(page.assignee_combo.findData("unassigned"))
    expected = count(demo, unassigned_only=True)
    qtbot.waitUntil(lambda: page.model.total == expected and not page.model.is_loading, timeout=WAIT)
    assert all(t.work_order_id and not t.technician_name for t in rows(page))
    assert all(page.model.index(r, 6).data() == "Unassigned" for r in range(page.model.rowCount()))


def test_scan_result_arriving_later_updates_the_row(qtbot, demo, pool, clamd, isolated_settings, tmp_path):
    """Uploaded while the scanner is down: 'pending'; the rescan job finds it clean later."""
    ctx = make_ctx(demo, pool, hermetic_settings(clamd_address=f"unix:{tmp_path / 'no-clamd.sock'}", clamd_timeout=2))
    page = TicketsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    wait_loaded(qtbot, page)
    try:
        ticket = new_ticket(demo, subject="Photo of the broken lock").ticket
        open_in_detail(qtbot, page, ticket.id)
        panel = page.detail.attachments
        photo = tmp_path / "broken-lock.png"
        photo.write_bytes(png_bytes(320, 240))
        drop_files(panel, [photo])
        qtbot.waitUntil(lambda: panel.rows() and panel.rows()[0].state == "stored", timeout=WAIT)
        row = panel.rows()[0]
        assert row.info.scan_status == "pending"
        assert row.scan_badge.text() == SCAN_PENDING_LABEL
        # Pending rows are re-read until scanned (and on live notifications).
        qtbot.waitUntil(lambda: panel._poll_timer.isActive(), timeout=WAIT)  # noqa: SLF001

        scanned = attachment_service.rescan_pending(uow_factory=demo.uow_factory, scanner=_scanner(clamd))
        assert scanned >= 1
        ctx.live.changed.emit("attachment", row.info.id, "updated")
        qtbot.waitUntil(lambda: panel.rows() and panel.rows()[0].info.scan_status == "clean", timeout=WAIT)
        assert panel.rows()[0].scan_badge.text() == "Clean"
        assert not panel._poll_timer.isActive()  # noqa: SLF001
    finally:
        settle(qtbot, page)


def test_attention_lists_dead_notifications_with_retry_and_counts_for_the_navigation(qtbot, page, demo, test_server):
    # A dead e-mail is the sender's doing: seeded as the server's administrator (a dispatcher
    # may not write outbox rows by hand).
    admin = make_engine(test_server.url_for(make_url(demo.url).database))
    with UnitOfWorkFactory(admin)() as uow:
        nid = uow.session.execute(text(
            "INSERT INTO notifications (organization_id, idempotency_key, event, channel, recipient_kind, "
            "recipient_address, subject, body_text, status, attempts, last_error) VALUES (:o, :k, "
            "'work_order.scheduled', 'email', 'customer', 'facilities@lakeview.example', "
            "'Your visit is scheduled', 'body', 'dead', 8, '550 mailbox unavailable') RETURNING id"),
            {"o": demo.actor.organization_id, "k": f"ui-test-{id(page)}"}).scalar_one()
        uow.commit()
    admin.dispose()
    counts = []
    page.attention_count_changed.connect(counts.append)
    page.list_tabs.setCurrentIndex(1)
    page.attention.refresh()
    qtbot.waitUntil(lambda: any("550 mailbox unavailable" in t for t in page.attention.item_texts("dead")),
                    timeout=WAIT)
    before = page.attention.count
    assert counts and counts[-1] == before
    assert page.list_tabs.tabText(1) == f"Needs attention ({before})"
    item = next(i for i in page.attention.items["dead"] if "550 mailbox unavailable" in i.detail.text())
    retry_button = item.findChild(type(page.clear_button), f"retry-{nid}")
    qtbot.mouseClick(retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.attention.count == before - 1, timeout=WAIT)
    assert counts[-1] == before - 1
    with demo.uow_factory() as uow:
        status = uow.session.execute(text("SELECT status FROM notifications WHERE id = :i"), {"i": nid}).scalar_one()
    assert status == "pending"


def test_columns_step_aside_when_the_queue_is_narrow_and_choices_are_remembered(qtbot, page):
    from desk_desktop.ui.tickets.model import COL_CATEGORY, COL_CREATED, COL_PRIORITY

    page.splitter.setSizes([900, 372])
    qtbot.waitUntil(lambda: not page.table.isColumnHidden(COL_CREATED), timeout=WAIT)
    assert page.table.isColumnHidden(COL_CATEGORY)  # hidden by default
    page.splitter.setSizes([430, 842])
    qtbot.waitUntil(lambda: page.table.isColumnHidden(COL_CREATED), timeout=WAIT)
    assert not page.table.isColumnHidden(COL_PRIORITY)
    assert page.table.columnWidth(1) >= 180  # the subject keeps room
    page.splitter.setSizes([1000, 272])
    qtbot.waitUntil(lambda: not page.table.isColumnHidden(COL_CREATED), timeout=WAIT)

    page.set_column_visible(COL_CATEGORY, True)
    assert not page.table.isColumnHidden(COL_CATEGORY)
    assert str(COL_CATEGORY) not in str(QSettings().value("tickets/hidden_columns"))
