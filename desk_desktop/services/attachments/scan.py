"""Scanning stored files with clamd (streamed from the chunks), recording the verdict through the
database's own function, and thumbnails for clean images; the rescan job."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import text

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import filetypes
from desk_desktop.domain.enums import AttachmentCategory, ScanStatus
from desk_desktop.services.attachments.model import MAX_UNAVAILABLE_ATTEMPTS, BlobReader
from desk_desktop.services.common import (
    Actor,
    audit,
)
from desk_desktop.services.scanning import REASON_ERROR, ClamdScanner, ScannerUnavailable, ScanResult
from desk_desktop.services.thumbnails import ThumbnailFailed, make_thumbnail

# --- scanning -----------------------------------------------------------------------------

WAITING_FOR_THE_SERVER = "waiting for the server's virus scanner"


def may_record_verdicts(uow: UnitOfWork) -> bool:
    """Whether this connection's login may mark a file clean: a member of ``desk_scanner``
    (migration 0015), which a superuser always is. Any other workstation leaves its uploads
    pending for the server's scheduler."""
    return bool(sql.scalar(uow, "SELECT desk_may_record_verdicts()"))


def _scan_blob(*, uow_factory, blob_id: int, scanner: ClamdScanner) -> ScanResult | None:
    """Scan one pending blob now. None when it is not pending, someone else is scanning it,
    or the scanner is unavailable (it stays pending)."""
    uow = uow_factory()
    with uow:
        row = uow.session.execute(
            text("SELECT id, organization_id, size, scan_status, scan_attempts FROM blobs "
                 "WHERE id = :b FOR UPDATE SKIP LOCKED"),
            {"b": blob_id},
        ).first()
        if row is None or row.scan_status != ScanStatus.PENDING:
            return None
        result = _scan_locked(uow, row, scanner)
        uow.commit()
        return result


def _scan_locked(uow, row, scanner: ClamdScanner) -> ScanResult | None:
    s = uow.session
    try:
        sent = [0]
        result = scanner.scan_file(_pending_chunks(uow, row.id, sent), size=row.size)
        if result.is_clean and sent[0] != row.size:
            result = ScanResult(ScanStatus.NOT_SCANNED, reason=f"{REASON_ERROR}: only {sent[0]} of {row.size} bytes "
                                                              "could be read for the scan")
    except ScannerUnavailable as exc:
        attempts = row.scan_attempts + 1
        if attempts >= MAX_UNAVAILABLE_ATTEMPTS:
            result = ScanResult(ScanStatus.NOT_SCANNED,
                                reason=f"scanner unavailable: gave up after {attempts} attempts ({exc})")
        else:
            _record_scan(uow, row.id, ScanStatus.PENDING, reason=f"scanner unavailable: {exc}", attempts=attempts)
            return None
    _record_scan(uow, row.id, result.status, signature=result.signature, reason=result.reason)
    attachments = s.execute(
        text("SELECT id, original_name, category FROM attachments WHERE blob_id = :b AND organization_id = :o "
             "ORDER BY id"),
        {"b": row.id, "o": row.organization_id},
    ).all()
    system = Actor.system(row.organization_id, name="scanner")
    if result.status == ScanStatus.INFECTED:
        s.execute(
            text("UPDATE attachments SET thumbnail = NULL, thumbnail_mime = NULL, "
                 "thumbnail_error = 'no thumbnail: the file is quarantined' WHERE blob_id = :b"),
            {"b": row.id},
        )
    elif result.status == ScanStatus.CLEAN:
        _make_thumbnails(uow, row, attachments)
    else:
        s.execute(
            text("UPDATE attachments SET thumbnail_error = :e WHERE blob_id = :b AND category = 'image' "
                 "AND thumbnail IS NULL"),
            {"b": row.id, "e": f"no thumbnail: the file was not virus-scanned ({result.reason})"},
        )
    for att in attachments:
        if result.status == ScanStatus.INFECTED:
            summary = f"'{filetypes.display_name(filetypes.decode_stored_name(att.original_name))}' quarantined: ClamAV found {result.signature}"
            action = "attachment.quarantined"
        elif result.status == ScanStatus.CLEAN:
            summary = f"'{filetypes.display_name(filetypes.decode_stored_name(att.original_name))}' scanned: clean"
            action = "attachment.scanned"
        else:
            summary = f"'{filetypes.display_name(filetypes.decode_stored_name(att.original_name))}' not scanned: {result.reason}"
            action = "attachment.not_scanned"
        audit(uow, actor=system, action=action, entity="attachment", entity_id=att.id, summary=summary,
              details={"blob_id": row.id, "status": str(result.status), "signature": result.signature,
                       "reason": result.reason})
        uow.record_change("attachment", att.id, row.organization_id, "updated")
    return result


def _record_scan(uow, blob_id: int, status: ScanStatus, *, signature: str | None = None,
                 reason: str | None = None, attempts: int | None = None) -> None:
    """Scan columns change only through the database's ``desk_record_scan`` (migration 0006),
    which allows pending -> verdict, pending -> pending and not_scanned -> pending."""
    sql.execute(uow, "SELECT desk_record_scan(:b, :st, :sig, :r, :n)",
                {"b": blob_id, "st": str(status), "sig": signature, "r": reason, "n": attempts})


def _pending_chunks(uow, blob_id: int, sent: list[int]) -> Iterator[bytes]:
    """The bytes of a pending file, for the scanner (counted in ``sent[0]``): a pending
    file's chunks are not readable directly (only clean ones are), ``desk_scan_chunks``
    hands them to the scan."""
    for row in sql.stream(uow, "SELECT data FROM desk_scan_chunks(:b)", {"b": blob_id}, batch=4):
        sent[0] += len(row.data)
        yield bytes(row.data)


def _make_thumbnails(uow: UnitOfWork, blob_row, attachments) -> None:
    s = uow.session
    images = [a for a in attachments if a.category == AttachmentCategory.IMAGE]
    if not images:
        return
    pending = s.execute(
        text("SELECT id FROM attachments WHERE blob_id = :b AND category = 'image' AND thumbnail IS NULL"),
        {"b": blob_row.id},
    ).scalars().all()
    if not pending:
        return
    try:
        thumb = make_thumbnail(BlobReader(uow, blob_row.id, blob_row.size))
    except ThumbnailFailed as exc:
        s.execute(
            text("UPDATE attachments SET thumbnail_error = :e WHERE id = ANY(:ids)"),
            {"e": str(exc)[:1000], "ids": list(pending)},
        )
        return
    s.execute(
        text("UPDATE attachments SET thumbnail = :d, thumbnail_mime = :m, thumbnail_error = NULL "
             "WHERE id = ANY(:ids)"),
        {"d": thumb.data, "m": thumb.mime_type, "ids": list(pending)},
    )


def rescan_pending(*, uow_factory, scanner: ClamdScanner, limit: int = 20) -> int:
    """Scan blobs still pending (e.g. uploaded while clamd was down, or by a workstation that
    is no scanner). Returns how many got a final status; nothing when this connection may
    not record verdicts. Claims rows with FOR UPDATE SKIP LOCKED so several workers can run."""
    with uow_factory() as uow:
        if not may_record_verdicts(uow):
            return 0
    if not scanner.ping():
        return 0
    settled = 0
    tried: list[int] = [0]
    for _ in range(max(0, limit)):
        uow = uow_factory()
        with uow:
            row = uow.session.execute(
                text("SELECT id, organization_id, size, scan_status, scan_attempts FROM blobs "
                     "WHERE scan_status = 'pending' AND sha256 NOT LIKE '~%' AND id <> ALL(:tried) "
                     "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"),
                {"tried": tried},
            ).first()
            if row is None:
                break
            tried.append(row.id)
            result = _scan_locked(uow, row, scanner)
            uow.commit()
        if result is None:
            break  # scanner went away: try again on the next run
        settled += 1
    return settled
