"""Files a dispatcher must not be able to open by accident (issue 21: 2, 3, 4, 13).

Only a file the virus scanner found clean is handed out (service, database and UI);
archives are trusted only from a clamd that reports what it skips inside them; names
the desktop would run are refused whatever the content and never opened; names are
shown as plain text with their invisible characters visible; saving never replaces an
existing file unless the user confirmed it, and opened copies are removed at shutdown.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QApplication
from sqlalchemy import text

from desk_desktop.config import Settings
from desk_desktop.domain.enums import ScanStatus
from desk_desktop.services import attachments as att
from desk_desktop.services.common import Actor, PermissionDenied, ValidationFailed
from desk_desktop.services.scanning import REASON_CONTAINERS, canary_encrypted, canary_oversized
from desk_desktop.ui.context import UiContext
from desk_desktop.ui.tickets.attachments import AttachmentsPanel, FileRow
from desk_desktop.ui.workers import TaskRunner
from tests.clamd_util import STREAM_MAX_BYTES, ClamdServer
from tests.integration.test_attachments import add_ticket, upload

WAIT = 20_000


@pytest.fixture
def ticket(uow_factory, org):
    return add_ticket(uow_factory(), org)


@pytest.fixture(scope="module")
def debian_clamd():
    """clamd as Debian ships it: AlertExceedsMax no, AlertEncrypted no."""
    server = ClamdServer(archive_alerts=False)
    server.start()
    yield server
    server.close()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# --------------------------------------------------------------------- 2: only clean files
@pytest.mark.parametrize("status", [ScanStatus.PENDING, ScanStatus.NOT_SCANNED])
def test_a_file_not_scanned_clean_is_not_handed_out_without_an_audited_override(uow_factory, org, ticket, clamd,
                                                                                  tmp_path, status):
    if status == ScanStatus.PENDING:
        with clamd.stopped():
            info = upload(uow_factory, org, ticket, b"meter readings", "readings.txt", scanner=clamd.scanner())
    else:  # bigger than what the scanner is trusted with
        info = upload(uow_factory, org, ticket, b"x" * 2048, "readings.txt",
                      scanner=clamd.scanner(trusted_max_bytes=1024))
    assert info.scan_status == status
    dispatcher = Actor(organization_id=org.organization_id, name="bob", is_admin=False)
    for actor in (dispatcher, org):
        with pytest.raises(att.AttachmentNotScanned, match="only files the virus scanner found clean"):
            att.download_attachment(uow_factory=uow_factory, actor=actor, attachment_id=info.id,
                                    dest=tmp_path / "copy.txt")
    with pytest.raises(PermissionDenied):
        att.download_attachment(uow_factory=uow_factory, actor=dispatcher, attachment_id=info.id,
                                dest=tmp_path / "copy.txt", admin_override=True, reason="need it")
    with pytest.raises(ValidationFailed, match="reason"):
        att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id,
                                dest=tmp_path / "copy.txt", admin_override=True, reason=" ")
    assert not (tmp_path / "copy.txt").exists()
    res = att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id,
                                  dest=tmp_path / "copy.txt", admin_override=True, reason="customer needs it now")
    assert res.override and (tmp_path / "copy.txt").read_bytes() == (b"meter readings" if status == "pending"
                                                                      else b"x" * 2048)
    with uow_factory() as uow:
        row = uow.session.execute(text("SELECT details FROM audit_log WHERE action = 'attachment.quarantine_override' "
                                       "AND entity_id = :a"), {"a": info.id}).one()
    assert row.details["scan_status"] == status and row.details["reason"] == "customer needs it now"


# --------------------------------------------------------------------- 3: archives
def test_a_clamd_that_hides_archive_limits_never_makes_an_archive_clean(uow_factory, org, ticket, debian_clamd):
    scanner = debian_clamd.scanner()
    # What Debian's defaults do: the canaries come back OK...
    assert scanner._scan_raw([canary_oversized(STREAM_MAX_BYTES)]).status == ScanStatus.CLEAN
    assert scanner._scan_raw([canary_encrypted()]).status == ScanStatus.CLEAN
    assert scanner.reports_container_limits() is False
    # ...so archives are "not scanned", never clean, while other files are still scanned.
    for name, data in (("bomb.zip", canary_oversized(STREAM_MAX_BYTES)), ("locked.zip", canary_encrypted()),
                       ("photos.zip", _zip({"a.txt": b"harmless"}))):
        info = upload(uow_factory, org, ticket, data, name, scanner=scanner)
        assert info.scan_status == ScanStatus.NOT_SCANNED and info.scan_reason == REASON_CONTAINERS, name
    assert upload(uow_factory, org, ticket, b"plain words", "notes.txt", scanner=scanner).is_clean


def test_a_clamd_with_archive_alerts_scans_archives_and_reports_what_it_skips(uow_factory, org, ticket, clamd):
    scanner = clamd.scanner()
    assert scanner.reports_container_limits() is True
    assert upload(uow_factory, org, ticket, _zip({"a.txt": b"harmless"}), "photos.zip", scanner=scanner).is_clean
    big = upload(uow_factory, org, ticket, _zip({"big.bin": bytes(STREAM_MAX_BYTES + 1024 * 1024)}), "big.zip",
                 scanner=scanner)
    assert big.scan_status == ScanStatus.NOT_SCANNED and "Limits.Exceeded" in big.scan_reason
    locked = upload(uow_factory, org, ticket, canary_encrypted(), "locked.zip", scanner=scanner)
    assert locked.quarantined and "Encrypted" in locked.scan_signature


# --------------------------------------------------------------------- 4: names the desktop runs
@pytest.mark.parametrize("name,data", [
    ("invoice.hta", b"<html><script>new ActiveXObject('WScript.Shell')</script></html>"),
    ("photo\u202egnp.hta", b"<html><body>hi</body></html>"),
    ("update.vbs", b"MsgBox \"hi\""),
    ("report.js", b"var x = 1;"),
    ("setup.wsf", b"<job><script language='VBScript'>MsgBox 1</script></job>"),
    ("run.cmd", b"echo hi"),
    ("tool.ps1", b"Write-Host hi"),
    ("app.jar", b"PK\x03\x04 not really"),
    ("disk.iso", b"\x00" * 64),
    ("shortcut.lnk", b"L\x00\x00\x00"),
    ("portal.url", b"[InternetShortcut]\nURL=file:///c:/windows/system32/calc.exe\n"),
])
def test_a_name_the_desktop_would_run_is_refused_whatever_the_content(uow_factory, org, ticket, name, data):
    before = _count(uow_factory)
    with pytest.raises(att.AttachmentTypeRefused, match="which the computer runs"):
        upload(uow_factory, org, ticket, data, name)
    assert _count(uow_factory) == before


def _count(uow_factory) -> int:
    with uow_factory() as uow:
        return uow.session.execute(text("SELECT count(*) FROM attachments")).scalar_one()


def _info(uow_factory, org, ticket, name, *, status=ScanStatus.CLEAN, allow=False):
    info = upload(uow_factory, org, ticket, b"<html><body>hello</body></html>", name, allow_executables=allow)
    return att.AttachmentInfo(**{**info.__dict__, "scan_status": str(status)})


def test_open_is_offered_only_for_a_clean_file_the_desktop_would_not_run(qtbot, uow_factory, org, ticket):
    row = FileRow("x")
    qtbot.addWidget(row)
    page = _info(uow_factory, org, ticket, "page.html")
    row.set_info(page)
    assert row.open_button.isEnabled()
    for status in (ScanStatus.PENDING, ScanStatus.NOT_SCANNED, ScanStatus.INFECTED):
        row.set_info(att.AttachmentInfo(**{**page.__dict__, "scan_status": str(status)}))
        assert not row.open_button.isEnabled(), status
    # Stored only because the caller explicitly allowed programs: saved, never opened.
    row.set_info(_info(uow_factory, org, ticket, "tool.hta", allow=True))
    assert not row.open_button.isEnabled() and row.save_button.isEnabled()
    assert "never opened" in row.open_button.toolTip()


def test_names_are_shown_as_plain_text_with_invisible_characters_visible(qtbot, uow_factory, org, ticket):
    row = FileRow("x")
    qtbot.addWidget(row)
    row.set_info(_info(uow_factory, org, ticket, "photo\u202elmth.html"))
    assert row.name_label.text() == "photo\\u202elmth.html"  # not "photohtml.html"
    assert row.name_label.textFormat() == Qt.TextFormat.PlainText
    row.set_info(_info(uow_factory, org, ticket, "<b>bold</b><img src=x>.html"))
    assert row.name_label.textFormat() == Qt.TextFormat.PlainText


# --------------------------------------------------------------------- 13: saving and opened copies
def test_saving_never_replaces_an_existing_file_unless_confirmed(uow_factory, org, ticket, clamd, tmp_path):
    info = upload(uow_factory, org, ticket, b"new contents", "report.txt", scanner=clamd.scanner())
    existing = tmp_path / "report.txt"
    existing.write_bytes(b"my own notes")
    with pytest.raises(ValidationFailed, match="already exists"):
        att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id, dest=existing)
    assert existing.read_bytes() == b"my own notes"
    # Into a folder: numbered next to it.
    res = att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id, dest=tmp_path)
    assert res.path == str(tmp_path / "report (1).txt") and Path(res.path).read_bytes() == b"new contents"
    res = att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id, dest=tmp_path)
    assert res.path == str(tmp_path / "report (2).txt")
    assert existing.read_bytes() == b"my own notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report (1).txt", "report (2).txt", "report.txt"]
    # The user confirmed replacing it (the save dialog asks).
    att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id, dest=existing, replace=True)
    assert existing.read_bytes() == b"new contents"


def test_cli_get_out_refuses_to_replace_a_file(fresh_db, clamd, tmp_path, capsys):
    from desk_desktop.cli import main
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from tests.conftest import make_org

    engine = make_engine(fresh_db)
    try:
        factory = UnitOfWorkFactory(engine)
        actor = make_org(factory(), slug="cli-sec")
        ticket_id = add_ticket(factory(), actor)
        info = upload(factory, actor, ticket_id, b"fresh", "notes.txt", scanner=clamd.scanner())
    finally:
        engine.dispose()
    target = tmp_path / "notes.txt"
    target.write_bytes(b"keep me")
    rc = main(["attachment", "get", "--database-url", fresh_db, str(info.id), "--out", str(target)])
    assert rc != 0 and "already exists" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    rc = main(["attachment", "get", "--database-url", fresh_db, str(info.id), "--out", str(tmp_path)])
    assert rc == 0 and (tmp_path / "notes (1).txt").read_bytes() == b"fresh"


def test_copies_made_for_opening_are_removed_at_shutdown(qtbot, uow_factory, org, ticket, clamd, tmp_path):
    info = upload(uow_factory, org, ticket, b"%PDF-1.4\n%%EOF\n", "leaflet.pdf", scanner=clamd.scanner())
    pool = QThreadPool()
    ctx = UiContext(uow_factory=uow_factory, actor=org, settings=Settings(), runner=TaskRunner(pool=pool))
    panel = AttachmentsPanel(ctx)
    qtbot.addWidget(panel)
    panel.set_ticket(ticket)
    qtbot.waitUntil(lambda: info.id in panel._stored, timeout=WAIT)
    opened: list[str] = []
    panel.open_local_file = opened.append
    qtbot.mouseClick(panel._stored[info.id].open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(opened), timeout=WAIT)
    copy = Path(opened[0])
    assert copy.read_bytes() == b"%PDF-1.4\n%%EOF\n"
    panel.shutdown()
    pool.waitForDone(30_000)
    QApplication.processEvents()
    assert not copy.exists() and not copy.parent.exists()
    assert not os.path.exists(copy.parent)
