"""Attachments against the real database and a real clamd (see tests/clamd_util.py)."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import random

import pytest
from sqlalchemy import text

from desk_desktop.db.models import Customer
from desk_desktop.domain.enums import ScanStatus
from desk_desktop.services import attachments as att
from desk_desktop.services.common import Actor, DeskError, NotFound, PermissionDenied, ValidationFailed
from desk_desktop.services.scanning import ClamdScanner
from desk_desktop.services.tickets import create_ticket
from tests import attachment_samples as samples
from tests.clamd_util import EICAR, STREAM_MAX_BYTES
from tests.conftest import acting_as, connected_as_dispatcher, make_org

_n = itertools.count(1)


def new_ticket(uow, actor: Actor):
    """A ticket for a new customer, made as the app makes one (its number from the counter)."""
    ref = f"AC{next(_n):05d}"
    with uow:
        uow.session.add(Customer(organization_id=actor.organization_id, ref=ref, name=f"Customer {ref}",
                                 customer_type="business"))
        uow.commit()
    return create_ticket(uow=uow, actor=actor, subject="Boiler noise", category="hvac", priority="medium",
                         customer_ref=ref).ticket


def add_ticket(uow, actor: Actor) -> int:
    return new_ticket(uow, actor).id


def counts(uow, org_id: int) -> dict[str, int]:
    with uow:
        s = uow.session
        return {
            table: s.execute(text(f"SELECT count(*) FROM {table} WHERE organization_id = :o"), {"o": org_id}).scalar()
            for table in ("blobs", "blob_chunks", "attachments", "audit_log")
        }


@pytest.fixture
def ticket(uow_factory, org):
    return add_ticket(uow_factory(), org)


def noise(size: int) -> bytes:
    """``size`` unpredictable bytes that no file-type detector takes for a known format.

    Plain random bytes now and then begin with a signature libmagic knows ("MZ" → a DOS
    program, refused), which made tests fail at random."""
    head = b"\x00\x17DESK-NOISE\x00"
    return (head + os.urandom(max(0, size - len(head))))[:size]


def upload(uow_factory, org, ticket, data: bytes, name: str, **kw) -> att.AttachmentInfo:
    return att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket, source=io.BytesIO(data),
                              original_name=name, **kw)


class NonSeekable(io.RawIOBase):
    """A pipe-like source: size unknown until the end."""

    def __init__(self, total: int, byte: bytes = b"a") -> None:
        self.left = total
        self.byte = byte

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:
        n = min(len(b), self.left, 300_000)  # short reads, like a pipe
        b[:n] = self.byte * n
        self.left -= n
        return n


# --- type detection ------------------------------------------------------------------------

def test_each_category_is_detected_from_the_content(uow_factory, org, ticket):
    for name, (make, mime, category) in samples.CATEGORY_SAMPLES.items():
        data = make()
        # Saved under a neutral name: detection must not come from the extension.
        info = upload(uow_factory, org, ticket, data, "upload.bin")
        assert info.category == category, (name, info.mime_type)
        if mime:
            assert info.mime_type == mime, name
        assert info.size == len(data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert info.scan_status == ScanStatus.PENDING  # no scanner given
        # Under its usual name there is no mismatch.
        named = upload(uow_factory, org, ticket, data, name)
        assert named.extension_mismatch is False, (name, named.mime_type)
        assert named.category == category
    listed = att.list_attachments(uow=uow_factory(), actor=org, ticket_id=ticket)
    # As the platform lists them: images, documents, archives, video, audio; data files (CSV,
    # JSON, XML, logs) are "other".
    assert {a.category for a in listed} == {"image", "document", "video", "audio", "archive", "other"}


def test_png_named_pdf_is_flagged_as_extension_mismatch(uow_factory, org, ticket):
    info = upload(uow_factory, org, ticket, samples.image("PNG"), "contract.pdf")
    assert info.mime_type == "image/png"
    assert info.category == "image"
    assert info.extension_mismatch is True
    assert info.original_name == "contract.pdf"


def test_unknown_binary_is_category_other(uow_factory, org, ticket):
    # Fixed bytes: random ones now and then begin with a signature libmagic knows ("MZ"…).
    data = b"\x00\x17DESKFW" + random.Random(20261126).randbytes(4992)
    info = upload(uow_factory, org, ticket, data, "firmware.dat")
    assert info.category == "other"
    assert info.extension_mismatch is False


@pytest.mark.parametrize("make,label", [(samples.elf, "ELF"), (samples.pe, "PE"), (samples.shell_script, "script")])
def test_program_disguised_as_pdf_is_refused_and_nothing_stored(uow_factory, org, ticket, make, label):
    before = counts(uow_factory(), org.organization_id)
    with pytest.raises(att.AttachmentTypeRefused) as exc:
        upload(uow_factory, org, ticket, make(), "invoice.pdf")
    assert "invoice.pdf" in str(exc.value) and "not accepted" in str(exc.value)
    assert counts(uow_factory(), org.organization_id) == before


def test_honestly_named_program_is_refused_by_default_but_can_be_allowed(uow_factory, org, ticket):
    with pytest.raises(att.AttachmentTypeRefused):
        upload(uow_factory, org, ticket, samples.pe(), "setup.exe")
    info = upload(uow_factory, org, ticket, samples.pe(), "setup.exe", allow_executables=True)
    assert info.category == "other"
    # ...but never when disguised.
    with pytest.raises(att.AttachmentTypeRefused):
        upload(uow_factory, org, ticket, samples.pe(), "setup.docx", allow_executables=True)


# --- limits, cancel, progress ------------------------------------------------------------

def _set_limit(uow, org, limit: int) -> None:
    with uow:
        uow.session.execute(text("UPDATE organizations SET max_attachment_bytes = :l WHERE id = :o"),
                            {"l": limit, "o": org.organization_id})
        uow.commit()


def test_over_limit_file_is_refused_before_storing_with_the_limit_in_the_message(uow_factory, org, ticket, tmp_path):
    _set_limit(uow_factory(), org, 1024 * 1024)
    path = tmp_path / "video.mp4"
    path.write_bytes(samples.mp4() + b"\x00" * (2 * 1024 * 1024))
    before = counts(uow_factory(), org.organization_id)
    seen = []
    with pytest.raises(att.AttachmentTooLarge) as exc:
        att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket, source=path,
                           progress=lambda d, t: seen.append(d))
    assert "1 MiB" in str(exc.value) and "video.mp4" in str(exc.value)
    assert exc.value.limit == 1024 * 1024
    assert seen == []  # refused before a single chunk was read
    assert counts(uow_factory(), org.organization_id) == before


def test_over_limit_stream_of_unknown_size_is_refused_while_streaming(uow_factory, org, ticket):
    _set_limit(uow_factory(), org, 2 * 1024 * 1024 + 10)
    before = counts(uow_factory(), org.organization_id)
    with pytest.raises(att.AttachmentTooLarge) as exc:
        att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket,
                           source=NonSeekable(5 * 1024 * 1024), original_name="pipe.txt")
    assert "2.0 MiB" in str(exc.value)
    assert counts(uow_factory(), org.organization_id) == before
    with uow_factory() as uow:  # no orphan chunks anywhere, not only for this organization
        orphans = uow.session.execute(text(
            "SELECT count(*) FROM blob_chunks c LEFT JOIN blobs b ON b.id = c.blob_id WHERE b.id IS NULL")).scalar()
        assert orphans == 0


def test_exactly_at_limit_is_accepted(uow_factory, org, ticket):
    _set_limit(uow_factory(), org, 3 * 1024 * 1024)
    info = att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket,
                              source=NonSeekable(3 * 1024 * 1024), original_name="pipe.txt")
    assert info.size == 3 * 1024 * 1024


def test_empty_files_are_refused_and_nothing_stored(uow_factory, org, ticket, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    before = counts(uow_factory(), org.organization_id)
    with pytest.raises(att.EmptyAttachment, match="empty"):
        att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket, source=empty)
    with pytest.raises(att.EmptyAttachment):
        att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket, source=NonSeekable(0),
                           original_name="empty.txt")
    assert counts(uow_factory(), org.organization_id) == before


def test_cancel_stores_nothing_and_progress_reports_bytes(uow_factory, org, ticket):
    before = counts(uow_factory(), org.organization_id)
    seen: list[tuple[int, int | None]] = []
    data = noise(3 * att.CHUNK_SIZE + 5)
    with pytest.raises(att.UploadCancelled):
        att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket, source=io.BytesIO(data),
                           original_name="big.bin", progress=lambda d, t: seen.append((d, t)),
                           cancel=lambda: len(seen) >= 2)
    assert seen == [(att.CHUNK_SIZE, len(data)), (2 * att.CHUNK_SIZE, len(data))]
    assert counts(uow_factory(), org.organization_id) == before

    seen.clear()
    info = att.add_attachment(uow_factory=uow_factory, actor=org, ticket_id=ticket, source=io.BytesIO(data),
                              original_name="big.bin", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (len(data), len(data)) and len(seen) == 4
    with uow_factory() as uow:
        chunks = uow.session.execute(text("SELECT count(*), max(seq) FROM blob_chunks WHERE blob_id = :b"),
                                     {"b": info.blob_id}).one()
    assert tuple(chunks) == (4, 3)


def test_missing_ticket_or_other_organization(uow_factory, org, ticket):
    other = make_org(uow_factory(), slug="other-co")
    with pytest.raises(NotFound):
        upload(uow_factory, other, ticket, b"hello", "a.txt")
    info = upload(uow_factory, org, ticket, b"hello", "a.txt")
    with pytest.raises(att.AttachmentNotFound):
        att.download_attachment(uow_factory=uow_factory, actor=other, attachment_id=info.id, dest=io.BytesIO())
    assert att.list_attachments(uow=uow_factory(), actor=other, ticket_id=ticket) == ()


# --- storage -----------------------------------------------------------------------------

def test_identical_uploads_share_one_blob_per_organization(uow_factory, org, ticket):
    data = noise(2 * att.CHUNK_SIZE + 1234)
    first = upload(uow_factory, org, ticket, data, "site-photo.raw")
    second_ticket = add_ticket(uow_factory(), org)
    second = upload(uow_factory, org, second_ticket, data, "copy of site-photo.raw")
    assert first.deduplicated is False and second.deduplicated is True
    assert first.blob_id == second.blob_id
    assert first.id != second.id and second.original_name == "copy of site-photo.raw"
    with uow_factory() as uow:
        s = uow.session
        assert s.execute(text("SELECT count(*) FROM blobs WHERE organization_id = :o AND sha256 = :h"),
                         {"o": org.organization_id, "h": first.sha256}).scalar() == 1
        assert s.execute(text("SELECT count(*) FROM blob_chunks WHERE organization_id = :o"),
                         {"o": org.organization_id}).scalar() == 3
    # Another organization gets its own copy (content-addressed per organization).
    other = make_org(uow_factory(), slug="other-dedupe")
    with acting_as(uow_factory, other):
        theirs = upload(uow_factory, other, add_ticket(uow_factory(), other), data, "x.raw")
    assert theirs.blob_id != first.blob_id and theirs.deduplicated is False


def test_download_streams_the_exact_bytes_and_is_counted(uow_factory, org, ticket, tmp_path, clamd):
    data = noise(att.CHUNK_SIZE + 777)
    info = upload(uow_factory, org, ticket, data, "Pump report.pdf", scanner=clamd.scanner())
    assert info.download_count == 0 and info.last_downloaded_at is None

    bob = Actor(organization_id=org.organization_id, name="bob", is_admin=False)
    out = tmp_path / "saved.bin"
    res = att.download_attachment(uow_factory=uow_factory, actor=bob, attachment_id=info.id, dest=out)
    assert out.read_bytes() == data and res.size == len(data) and res.download_count == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]

    buf = io.BytesIO()
    att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id, dest=buf)
    assert buf.getvalue() == data

    folder = tmp_path / "downloads"
    folder.mkdir()
    res = att.download_attachment(uow_factory=uow_factory, actor=bob, attachment_id=info.id, dest=folder)
    assert res.path == str(folder / "Pump report.pdf") and (folder / "Pump report.pdf").read_bytes() == data

    after = att.get_attachment(uow=uow_factory(), actor=org, attachment_id=info.id)
    assert after.download_count == 3
    assert after.last_downloaded_by == "bob"
    assert after.last_downloaded_at is not None and after.last_downloaded_at >= after.uploaded_at
    with uow_factory() as uow:
        n = uow.session.execute(text("SELECT count(*) FROM audit_log WHERE entity = 'attachment' AND entity_id = :a "
                                     "AND action = 'attachment.downloaded'"), {"a": info.id}).scalar()
    assert n == 3


@pytest.mark.parametrize("name,expected", [
    ("../../etc/passwd", "etc_passwd"),
    ("..\\..\\Windows\\system32\\drivers.txt", "Windows_system32_drivers.txt"),
    ("report\x00.exe.pdf", "report.exe.pdf"),
    ("line\nbreak\tand\x1b[31mred.txt", "linebreakand[31mred.txt"),
    ("invoice\u202etxt.fdp", "invoicetxt.fdp"),
    ("\u2067photo\u2069.jpg", "photo.jpg"),
    ("CON.txt", "_CON.txt"),
    ("nul", "_nul"),
    ("lpt1.log", "_lpt1.log"),
    ("...", "attachment"),
])
def test_hostile_names_give_safe_save_as_names_and_are_kept_exactly(uow_factory, org, ticket, tmp_path, name,
                                                                     expected, clamd):
    info = upload(uow_factory, org, ticket, samples.plain_text(), name, scanner=clamd.scanner())
    assert info.original_name == name  # exactly, NUL and all
    assert info.safe_name == expected
    listed = att.list_attachments(uow=uow_factory(), actor=org, ticket_id=ticket)
    assert listed[0].original_name == name
    res = att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id, dest=tmp_path)
    assert os.path.dirname(res.path) == str(tmp_path)
    assert os.listdir(tmp_path) == [expected]


def test_visibility_is_changeable_and_audited(uow_factory, org, ticket):
    info = upload(uow_factory, org, ticket, b"hello", "a.txt")
    assert info.is_public is False
    public = att.set_attachment_visibility(uow=uow_factory(), actor=org, attachment_id=info.id, is_public=True)
    assert public.is_public is True
    assert att.set_attachment_visibility(uow=uow_factory(), actor=org, attachment_id=info.id,
                                         is_public=False).is_public is False
    with uow_factory() as uow:
        rows = uow.session.execute(text("SELECT details FROM audit_log WHERE action = 'attachment.visibility' "
                                        "AND entity_id = :a ORDER BY id"), {"a": info.id}).scalars().all()
    assert rows == [{"from": "private", "to": "public"}, {"from": "public", "to": "private"}]
    assert upload(uow_factory, org, ticket, b"hello2", "b.txt", is_public=True).is_public is True


# --- scanning ----------------------------------------------------------------------------

def test_clean_file_is_scanned_clean(uow_factory, org, ticket, clamd):
    info = upload(uow_factory, org, ticket, samples.pdf(), "contract.pdf", scanner=clamd.scanner())
    assert info.scan_status == ScanStatus.CLEAN and not info.quarantined and info.scanned_at is not None


def test_eicar_is_quarantined_and_not_downloadable_except_audited_admin_override(uow_factory, org, ticket, clamd,
                                                                                 tmp_path):
    info = upload(uow_factory, org, ticket, EICAR, "invoice.txt", scanner=clamd.scanner())
    assert info.scan_status == ScanStatus.INFECTED
    assert info.quarantined is True
    assert "eicar" in info.scan_signature.lower()
    assert att.get_thumbnail(uow=uow_factory(), actor=org, attachment_id=info.id) is None

    dispatcher = Actor(organization_id=org.organization_id, name="dana", is_admin=False)
    with pytest.raises(att.AttachmentQuarantined, match="quarantined"):
        att.download_attachment(uow_factory=uow_factory, actor=dispatcher, attachment_id=info.id,
                                dest=tmp_path / "x.txt")
    with pytest.raises(PermissionDenied):
        att.download_attachment(uow_factory=uow_factory, actor=dispatcher, attachment_id=info.id,
                                dest=tmp_path / "x.txt", admin_override=True, reason="need it")
    with pytest.raises(ValidationFailed):
        att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id,
                                dest=tmp_path / "x.txt", admin_override=True, reason="  ")
    assert not (tmp_path / "x.txt").exists()
    assert att.get_attachment(uow=uow_factory(), actor=org, attachment_id=info.id).download_count == 0
    with pytest.raises(att.AttachmentQuarantined):
        att.set_attachment_visibility(uow=uow_factory(), actor=org, attachment_id=info.id, is_public=True)

    res = att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=info.id,
                                  dest=tmp_path / "x.txt", admin_override=True, reason="send to the AV vendor")
    assert res.override is True and (tmp_path / "x.txt").read_bytes() == EICAR
    with uow_factory() as uow:
        row = uow.session.execute(text("SELECT actor, summary, details FROM audit_log "
                                       "WHERE action = 'attachment.quarantine_override' AND entity_id = :a"),
                                  {"a": info.id}).one()
        assert row.actor == org.name and row.details["reason"] == "send to the AV vendor"
        quarantine_audit = uow.session.execute(text("SELECT count(*) FROM audit_log "
                                                    "WHERE action = 'attachment.quarantined' AND entity_id = :a"),
                                               {"a": info.id}).scalar()
        assert quarantine_audit == 1
    # A later identical upload reuses the infected blob: quarantined at once.
    again = upload(uow_factory, org, ticket, EICAR, "again.txt", scanner=clamd.scanner())
    assert again.quarantined and again.deduplicated


def test_scanner_down_leaves_pending_then_rescan_makes_it_clean(uow_factory, org, ticket, clamd):
    scanner = clamd.scanner()
    with clamd.stopped():
        assert scanner.ping() is False
        info = upload(uow_factory, org, ticket, samples.image("PNG"), "roof.png", scanner=scanner)
        bad = upload(uow_factory, org, ticket, EICAR, "bad.txt", scanner=scanner)
        assert info.scan_status == ScanStatus.PENDING and "unavailable" in info.scan_reason
        assert not info.has_thumbnail
        assert att.rescan_pending(uow_factory=uow_factory, scanner=scanner) == 0
    assert scanner.ping() is True
    assert att.rescan_pending(uow_factory=uow_factory, scanner=scanner) == 2
    after = att.get_attachment(uow=uow_factory(), actor=org, attachment_id=info.id)
    assert after.scan_status == ScanStatus.CLEAN and after.scan_reason is None
    assert after.has_thumbnail  # made once the file is known to be clean
    assert att.get_attachment(uow=uow_factory(), actor=org, attachment_id=bad.id).quarantined
    assert att.rescan_pending(uow_factory=uow_factory, scanner=scanner) == 0


def test_scan_over_tcp(clamd):
    scanner = ClamdScanner(clamd.tcp_address, timeout=10)
    assert scanner.ping()
    assert scanner.scan_bytes(EICAR).status == ScanStatus.INFECTED
    assert scanner.scan_bytes(b"just text").status == ScanStatus.CLEAN


def test_size_limit_exceeded_is_not_scanned_never_clean(uow_factory, org, ticket, clamd):
    data = b"z" * (STREAM_MAX_BYTES + 1024 * 1024)
    # A scanner that trusts clamd with more than clamd accepts: clamd says "size limit exceeded".
    loose = clamd.scanner(trusted_max_bytes=64 * 1024 * 1024)
    info = upload(uow_factory, org, ticket, data, "huge.txt", scanner=loose)
    assert info.scan_status == ScanStatus.NOT_SCANNED and "size limit exceeded" in info.scan_reason
    assert not info.quarantined
    # The default scanner knows clamd's limit and does not even send it (clamd would say OK).
    strict = clamd.scanner()
    info2 = upload(uow_factory, org, ticket, data + b"!", "huge2.txt", scanner=strict)
    assert info2.scan_status == ScanStatus.NOT_SCANNED and "size limit exceeded" in info2.scan_reason


def test_scan_error_is_not_scanned(uow_factory, org, ticket, tmp_path):
    # Something that accepts connections but is not clamd.
    import socket
    import threading

    path = str(tmp_path / "fake.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        conn.recv(100)
        conn.sendall(b"UNKNOWN COMMAND\0")
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    info = upload(uow_factory, org, ticket, b"hello", "a.txt", scanner=ClamdScanner(f"unix:{path}", timeout=5))
    t.join(5)
    srv.close()
    assert info.scan_status == ScanStatus.NOT_SCANNED and info.scan_reason.startswith("error")
    # Not clean, but not dangerous either: downloadable, no thumbnail, can be queued again.
    assert not info.quarantined
    queued = att.request_rescan(uow=uow_factory(), actor=org, attachment_id=info.id)
    assert queued.scan_status == ScanStatus.PENDING and "again" in queued.scan_reason
    with pytest.raises(ValidationFailed):
        att.request_rescan(uow=uow_factory(), actor=org, attachment_id=info.id)


# --- thumbnails --------------------------------------------------------------------------

def test_clean_image_gets_a_small_oriented_thumbnail(uow_factory, org, ticket, clamd):
    from PIL import Image

    info = upload(uow_factory, org, ticket, samples.jpeg_with_orientation((400, 200)), "roof.jpg",
                  scanner=clamd.scanner())
    assert info.scan_status == ScanStatus.CLEAN and info.has_thumbnail and info.thumbnail_error is None
    thumb = att.get_thumbnail(uow=uow_factory(), actor=org, attachment_id=info.id)
    img = Image.open(io.BytesIO(thumb))
    assert img.format in ("WEBP", "PNG")
    assert max(img.size) <= 256 and img.size[1] > img.size[0]  # EXIF rotation applied: portrait
    assert len(thumb) < 64 * 1024


@pytest.mark.parametrize("size", [(6000, 6000), (12000, 12000)])
def test_decompression_bomb_png_is_stored_without_thumbnail(uow_factory, org, ticket, clamd, size):
    bomb = samples.decompression_bomb_png(*size)
    assert len(bomb) < 1024 * 1024
    info = upload(uow_factory, org, ticket, bomb, "bomb.png", scanner=clamd.scanner())
    assert info.category == "image" and info.scan_status == ScanStatus.CLEAN
    assert info.has_thumbnail is False
    assert "megapixel" in info.thumbnail_error or "decompression bomb" in info.thumbnail_error
    assert att.get_thumbnail(uow=uow_factory(), actor=org, attachment_id=info.id) is None


def test_broken_image_is_stored_without_thumbnail(uow_factory, org, ticket, clamd):
    data = samples.image("PNG", (300, 300))
    info = upload(uow_factory, org, ticket, data[: len(data) // 2], "half.png", scanner=clamd.scanner())
    assert info.category == "image" and not info.has_thumbnail and "unreadable" in info.thumbnail_error


# --- CLI -----------------------------------------------------------------------------------

def test_cli_add_and_get(fresh_db, clamd, tmp_path, monkeypatch, capsys):
    from desk_desktop.cli import main
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine

    engine = make_engine(fresh_db)
    try:
        factory = UnitOfWorkFactory(engine)
        actor = make_org(factory(), slug="cli-org")
        number = new_ticket(factory(), actor).number
    finally:
        engine.dispose()
    monkeypatch.setenv("DESK_CLAMD", clamd.address)
    photo = tmp_path / "roof.png"
    photo.write_bytes(samples.image("PNG"))
    fake = tmp_path / "contract.pdf"
    fake.write_bytes(samples.image("PNG", (10, 10), "L"))
    virus = tmp_path / "eicar.txt"
    virus.write_bytes(EICAR)

    rc = main(["attachment", "add", "--database-url", fresh_db, "--ticket", number, "--public", "--json",
               str(photo), str(fake), str(virus)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    doc = json.loads(out.out)
    files = {f["original_name"]: f for f in doc["attachments"]}
    assert files["roof.png"]["category"] == "image" and files["roof.png"]["scan_status"] == "clean"
    assert files["roof.png"]["is_public"] is True
    assert files["contract.pdf"]["extension_mismatch"] is True
    assert files["eicar.txt"]["scan_status"] == "infected" and files["eicar.txt"]["quarantined"] is True

    rc = main(["attachment", "add", "--database-url", fresh_db, "--ticket", number, str(photo)])
    out = capsys.readouterr()
    assert rc == 0 and "image/png" in out.out and "clean" in out.out

    dest = tmp_path / "out.png"
    rc = main(["attachment", "get", "--database-url", fresh_db, str(files["roof.png"]["id"]), "--out", str(dest)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert dest.read_bytes() == photo.read_bytes()

    rc = main(["attachment", "get", "--database-url", fresh_db, str(files["eicar.txt"]["id"]), "--out",
               str(tmp_path / "v.txt")])
    out = capsys.readouterr()
    assert rc == 1 and "quarantined" in out.err and not (tmp_path / "v.txt").exists()

    rc = main(["attachment", "add", "--database-url", fresh_db, "--ticket", "T-NOPE", str(photo)])
    out = capsys.readouterr()
    assert rc == 1 and "T-NOPE" in out.err

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    rc = main(["attachment", "add", "--database-url", fresh_db, "--ticket", number, str(empty)])
    out = capsys.readouterr()
    assert rc == 1 and "empty" in out.err

    rc = main(["attachment", "list", "--database-url", fresh_db, "--ticket", number, "--json"])
    out = capsys.readouterr()
    listed = json.loads(out.out)["attachments"]
    assert len(listed) == 4
    assert next(a for a in listed if a["id"] == files["roof.png"]["id"])["download_count"] == 1


# --- as real dispatcher logins (row-level security, never a superuser) ---------------------

def test_attachments_work_under_row_level_security_as_dispatchers(test_server, clamd, tmp_path):
    import uuid

    from desk_desktop.db.session import UnitOfWorkFactory, make_engine
    from desk_desktop.services import admin
    from desk_desktop.services.session_info import current_actor, dispatcher_url

    url = test_server.create_database("desk_att_rls")
    suffix = uuid.uuid4().hex[:8]
    logins = {"dana": f"att_dana_{suffix}", "adam": f"att_adam_{suffix}", "bob": f"att_bob_{suffix}"}
    owner = make_engine(url)
    engines = []
    try:
        uows = UnitOfWorkFactory(owner)
        a = admin.add_organization(uow=uows(), slug=f"att-a-{suffix}", name="Alpha")
        b = admin.add_organization(uow=uows(), slug=f"att-b-{suffix}", name="Bravo")
        # Their workstations scan their own uploads (a site without a scanning server scheduler).
        admin.add_dispatcher(uow=uows(), org_slug=a.slug, login=logins["dana"], display_name="Dana", scanner=True)
        admin.add_dispatcher(uow=uows(), org_slug=a.slug, login=logins["adam"], display_name="Adam", is_admin=True,
                             scanner=True)
        admin.add_dispatcher(uow=uows(), org_slug=b.slug, login=logins["bob"], display_name="Bob", scanner=True)

        def factory(who):
            eng = make_engine(dispatcher_url(url, logins[who]), pool_size=2)
            engines.append(eng)
            f = UnitOfWorkFactory(eng)
            return f, current_actor(uow=f())

        dana_f, dana = factory("dana")
        adam_f, adam = factory("adam")
        bob_f, bob = factory("bob")
        assert not dana.is_admin and adam.is_admin
        ticket = add_ticket(dana_f(), dana)
        scanner = clamd.scanner()
        data = noise(2 * att.CHUNK_SIZE + 99)
        photo = upload(dana_f, dana, ticket, data, "unit.raw", scanner=scanner)
        again = upload(dana_f, dana, ticket, data, "unit-again.raw", scanner=scanner)
        assert photo.scan_status == ScanStatus.CLEAN and again.blob_id == photo.blob_id and again.deduplicated
        buf = io.BytesIO()
        att.download_attachment(uow_factory=dana_f, actor=dana, attachment_id=photo.id, dest=buf)
        assert buf.getvalue() == data

        virus = upload(dana_f, dana, ticket, EICAR, "eicar.txt", scanner=scanner)
        assert virus.quarantined
        # Even a forged override by a non-administrator gets no bytes: the database hides them.
        forged = Actor(organization_id=dana.organization_id, name="Dana", is_admin=True)
        with pytest.raises(DeskError, match="could not be read"):
            att.download_attachment(uow_factory=dana_f, actor=forged, attachment_id=virus.id,
                                    dest=tmp_path / "v.txt", admin_override=True, reason="forged")
        assert not (tmp_path / "v.txt").exists()
        res = att.download_attachment(uow_factory=adam_f, actor=adam, attachment_id=virus.id,
                                      dest=tmp_path / "v.txt", admin_override=True, reason="for the AV lab")
        assert res.override and (tmp_path / "v.txt").read_bytes() == EICAR

        # Pending files uploaded while clamd is down are scanned later by a dispatcher session.
        with clamd.stopped():
            pending = upload(dana_f, dana, ticket, b"later please", "later.txt", scanner=scanner)
        assert pending.scan_status == ScanStatus.PENDING
        assert att.rescan_pending(uow_factory=dana_f, scanner=scanner) == 1
        assert att.get_attachment(uow=dana_f(), actor=dana, attachment_id=pending.id).is_clean

        # The other organization sees none of it, even with a forged actor.
        assert att.list_attachments(uow=bob_f(), actor=bob, ticket_id=ticket) == ()
        forged_bob = Actor(organization_id=dana.organization_id, name="Bob", is_admin=True)
        assert att.list_attachments(uow=bob_f(), actor=forged_bob, ticket_id=ticket) == ()
        with pytest.raises(NotFound):
            upload(bob_f, forged_bob, ticket, b"x", "x.txt")
    finally:
        for eng in engines:
            eng.dispose()
        owner.dispose()
        test_server.drop_database(url)
        test_server._admin("; ".join(f'DROP ROLE IF EXISTS "{r}"' for r in logins.values()))


def test_delete_attachment_keeps_shared_bytes_and_purge_removes_unreferenced(uow_factory, org, ticket, clamd):
    data = noise(att.CHUNK_SIZE + 5)
    one = upload(uow_factory, org, ticket, data, "a.bin", scanner=clamd.scanner())
    two = upload(uow_factory, org, ticket, data, "b.bin")
    att.delete_attachment(uow=uow_factory(), actor=org, attachment_id=one.id)
    assert [a.id for a in att.list_attachments(uow=uow_factory(), actor=org, ticket_id=ticket)] == [two.id]
    assert att.purge_unreferenced_blobs(uow_factory=uow_factory, older_than_seconds=0) == 0  # still used by two
    buf = io.BytesIO()
    att.download_attachment(uow_factory=uow_factory, actor=org, attachment_id=two.id, dest=buf)
    assert buf.getvalue() == data
    att.delete_attachment(uow=uow_factory(), actor=org, attachment_id=two.id)
    assert att.purge_unreferenced_blobs(uow_factory=uow_factory, older_than_seconds=3600) == 0  # too young
    assert att.purge_unreferenced_blobs(uow_factory=uow_factory, older_than_seconds=0) == 1
    assert counts(uow_factory(), org.organization_id)["blob_chunks"] == 0
    with uow_factory() as uow:
        assert uow.session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'attachment.deleted'")).scalar() == 2


def test_concurrent_identical_uploads_end_with_one_blob(fresh_db):
    """Two sessions upload the same bytes at the same moment (real transactions): both
    succeed, one blob, no orphan chunks."""
    import threading

    from desk_desktop.db.session import UnitOfWorkFactory, make_engine

    engine = make_engine(fresh_db, pool_size=4)
    try:
        factory = UnitOfWorkFactory(engine)
        actor = make_org(factory(), slug="race")
        ticket_id = add_ticket(factory(), actor)
        data = noise(3 * att.CHUNK_SIZE)
        barrier = threading.Barrier(2, timeout=30)
        results: list = [None, None]

        def worker(i: int) -> None:
            def progress(done, total):
                if done == att.CHUNK_SIZE:
                    barrier.wait()  # both are mid-upload, chunks written under their own new blobs
            try:
                results[i] = att.add_attachment(uow_factory=factory, actor=actor, ticket_id=ticket_id,
                                                source=io.BytesIO(data), original_name=f"same-{i}.bin",
                                                progress=progress)
            except BaseException as exc:  # noqa: BLE001
                results[i] = exc

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert all(isinstance(r, att.AttachmentInfo) for r in results), results
        assert results[0].blob_id == results[1].blob_id
        assert sorted(r.deduplicated for r in results) == [False, True]
        with factory() as uow:
            s = uow.session
            assert s.execute(text("SELECT count(*) FROM blobs")).scalar() == 1
            assert s.execute(text("SELECT count(*) FROM blob_chunks")).scalar() == 3
            assert s.execute(text("SELECT count(*) FROM attachments")).scalar() == 2
    finally:
        engine.dispose()


def test_cli_acts_as_an_administrator_named_after_the_os_user(fresh_db, tmp_path, monkeypatch, capsys):
    import getpass

    from desk_desktop.cli import main
    from desk_desktop.db.session import UnitOfWorkFactory, make_engine

    monkeypatch.setenv("DESK_CLAMD", f"unix:{tmp_path / 'no-clamd.sock'}")  # scanner down: stays pending
    engine = make_engine(fresh_db)
    try:
        factory = UnitOfWorkFactory(engine)
        actor = make_org(factory(), slug="cli-audit")
        number = new_ticket(factory(), actor).number
        note = tmp_path / "note.txt"
        note.write_bytes(b"call before coming\n")
        rc = main(["attachment", "add", "--database-url", fresh_db, "--ticket", number.lower(), str(note)])
        out = capsys.readouterr()
        assert rc == 0, out.err
        assert "pending scan" in out.out and "document" in out.out and "text/plain" in out.out
        with factory() as uow:
            who = uow.session.execute(text("SELECT actor FROM audit_log WHERE action = 'attachment.added'")).scalar()
        # An administrator's CLI acts as "cli:<os user>"; a dispatcher's login acts as that dispatcher.
        assert who == ("admin@cli-audit" if connected_as_dispatcher() else f"cli:{getpass.getuser()}")
    finally:
        engine.dispose()


def test_housekeeping_job_removes_files_no_attachment_refers_to(uow_factory, org, ticket):
    from desk_desktop.jobs.tasks import run_housekeeping

    data = noise(1000)
    one = upload(uow_factory, org, ticket, data, "old-report.bin")
    att.delete_attachment(uow=uow_factory(), actor=org, attachment_id=one.id)
    with uow_factory() as uow:  # the file was deleted long enough ago
        uow.session.execute(text("UPDATE blobs SET created_at = now() - interval '2 hours' "
                                 "WHERE organization_id = :o"), {"o": org.organization_id})
        uow.commit()
    result = run_housekeeping(uow_factory=uow_factory)
    assert result.counts["purged_blobs"] == 1
    assert "1 unreferenced file(s) removed" in result.summary
    assert counts(uow_factory(), org.organization_id)["blob_chunks"] == 0
