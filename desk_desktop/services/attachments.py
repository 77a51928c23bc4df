"""Attachments: streamed ingest into content-addressed chunks, sniffing, scanning, thumbnails,
tracked downloads.

Storage: ``blobs`` (one per organization per SHA-256) and ``blob_chunks`` (``bytea`` chunks
of ``CHUNK_SIZE`` bytes, primary key (blob_id, seq)). A file is never held in memory: it
is read chunk by chunk, hashed and sized on the way, and written with a binary ``COPY``.
The hash is known only at the end, so chunks are written under a new blob row; if the
organization already has a blob with that hash the new one is deleted and the existing
one is used — all in the upload's transaction, so a refused, failed or cancelled upload
leaves no rows and no orphan chunks.

After the upload commits, the blob is scanned by clamd (streamed from the chunks) in a
second transaction, and clean images get a thumbnail. Only ``clean`` is clean; an
``infected`` file is quarantined: no download and no thumbnail, except through an audited
administrator override. If clamd cannot be reached the file stays ``pending`` and the
``rescan`` job (``rescan_pending``) scans it later.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import filetypes
from desk_desktop.domain.enums import AttachmentCategory, ScanStatus
from desk_desktop.services.common import (
    Actor,
    DeskError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    audit,
)
from desk_desktop.services.scanning import REASON_ERROR, ClamdScanner, ScannerUnavailable, ScanResult
from desk_desktop.services.sniffing import HEAD_BYTES, looks_like_zip, sniff_head, zip_container_type
from desk_desktop.services.thumbnails import ThumbnailFailed, make_thumbnail

CHUNK_SIZE = 1024 * 1024
# A scanner that keeps failing to answer (while PING works) eventually gives "not scanned".
MAX_UNAVAILABLE_ATTEMPTS = 25

ProgressFn = Callable[[int, "int | None"], None]
CancelFn = Callable[[], bool]


# --- errors -------------------------------------------------------------------------------

class AttachmentTooLarge(DeskError):
    def __init__(self, message: str, *, size: int | None, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class EmptyAttachment(DeskError):
    pass


class AttachmentTypeRefused(DeskError):
    def __init__(self, message: str, *, mime_type: str) -> None:
        super().__init__(message)
        self.mime_type = mime_type


class AttachmentQuarantined(DeskError):
    def __init__(self, message: str, *, signature: str | None) -> None:
        super().__init__(message)
        self.signature = signature


class AttachmentNotScanned(DeskError):
    """The file is not known to be clean yet (pending) or could not be scanned."""

    def __init__(self, message: str, *, scan_status: str) -> None:
        super().__init__(message)
        self.scan_status = scan_status


class UploadCancelled(DeskError):
    pass


class AttachmentNotFound(NotFound):
    pass


# --- results ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    ticket_id: int
    original_name: str
    safe_name: str
    size: int
    mime_type: str
    category: str
    extension_mismatch: bool
    is_public: bool
    scan_status: str
    scan_signature: str | None
    scan_reason: str | None
    has_thumbnail: bool
    thumbnail_error: str | None
    uploaded_by: str
    uploaded_at: datetime
    download_count: int
    last_downloaded_at: datetime | None
    last_downloaded_by: str | None
    quarantined: bool
    sha256: str = ""
    blob_id: int = 0
    scanned_at: datetime | None = None
    deduplicated: bool = False

    @property
    def is_clean(self) -> bool:
        return self.scan_status == ScanStatus.CLEAN

    @property
    def status_text(self) -> str:
        """Scan status in words, for tables and the CLI."""
        if self.scan_status == ScanStatus.INFECTED:
            return f"quarantined (infected: {self.scan_signature})"
        if self.scan_status == ScanStatus.NOT_SCANNED:
            return f"not scanned ({self.scan_reason})"
        if self.scan_status == ScanStatus.PENDING:
            return "pending scan" + (f" ({self.scan_reason})" if self.scan_reason else "")
        return "clean"


@dataclass(frozen=True)
class DownloadResult:
    attachment_id: int
    safe_name: str
    size: int
    sha256: str
    path: str | None
    download_count: int
    downloaded_at: datetime
    downloaded_by: str
    override: bool = False


# --- helpers ------------------------------------------------------------------------------

def _mib(n: int) -> str:
    if n >= 1024 * 1024:
        v = n / (1024 * 1024)
        return f"{v:.0f} MiB" if v == int(v) else f"{v:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"


_CHUNK_SQL = "SELECT data FROM blob_chunks WHERE blob_id = :blob AND seq = :seq"


def _too_large(name: str, size: int | None, limit: int) -> AttachmentTooLarge:
    what = f"'{filetypes.display_name(name)}' is {_mib(size)}" if size is not None else \
        f"'{filetypes.display_name(name)}' is larger than {_mib(limit)}"
    return AttachmentTooLarge(
        f"{what}; the maximum size of an attachment in this organization is {_mib(limit)}.",
        size=size, limit=limit,
    )


class _Source:
    """A path or binary file object, read in full chunks."""

    def __init__(self, source: Any, original_name: str | None) -> None:
        self._close = False
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            try:
                self.fh: BinaryIO = open(path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                raise ValidationFailed(f"File not found: {path}", field="source") from None
            except IsADirectoryError:
                raise ValidationFailed(f"{path} is a folder, not a file.", field="source") from None
            except PermissionError:
                raise ValidationFailed(f"No permission to read {path}.", field="source") from None
            self._close = True
            self.name = original_name if original_name is not None else path.name
            st = os.fstat(self.fh.fileno())
            import stat as _stat

            self.total: int | None = st.st_size if _stat.S_ISREG(st.st_mode) else None
        else:
            if not hasattr(source, "read"):
                raise ValidationFailed("source must be a path or a binary file object", field="source")
            self.fh = source
            name = original_name
            if name is None:
                raw_name = getattr(source, "name", None)
                name = os.path.basename(raw_name) if isinstance(raw_name, str) else None
            if not name:
                raise ValidationFailed("The file needs a name (original_name).", field="original_name")
            self.name = name
            self.total = None
            try:
                if source.seekable():
                    pos = source.tell()
                    end = source.seek(0, io.SEEK_END)
                    source.seek(pos)
                    self.total = end - pos
            except (AttributeError, OSError, ValueError):
                self.total = None

    def read_chunk(self, size: int = CHUNK_SIZE) -> bytes:
        first = self.fh.read(size)
        if not first or len(first) == size:
            return bytes(first or b"")
        parts = [first]
        got = len(first)
        while got < size:
            more = self.fh.read(size - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def close(self) -> None:
        if self._close:
            self.fh.close()


class BlobReader(io.RawIOBase):
    """Read-only, seekable file over a blob's chunks (for zip inspection and Pillow).
    Fetches one chunk at a time by primary key; keeps only the current chunk."""

    def __init__(self, uow: UnitOfWork, blob_id: int, size: int) -> None:
        super().__init__()
        self._uow = uow
        self._blob_id = blob_id
        self._size = size
        self._pos = 0
        self._seq = -1
        self._data = b""
        first = self._fetch_len(0)
        self._chunk = max(1, first)

    def _fetch_len(self, seq: int) -> int:
        length = sql.scalar(self._uow, "SELECT length(data) FROM blob_chunks WHERE blob_id = :blob AND seq = :seq",
                            {"blob": self._blob_id, "seq": seq})
        return int(length) if length is not None else 0

    def _load(self, seq: int) -> None:
        if seq == self._seq:
            return
        data = sql.scalar(self._uow, _CHUNK_SQL, {"blob": self._blob_id, "seq": seq})
        self._data = bytes(data) if data is not None else b""
        self._seq = seq

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        want = len(view)
        done = 0
        while done < want and self._pos < self._size:
            seq, off = divmod(self._pos, self._chunk)
            self._load(seq)
            piece = self._data[off: off + (want - done)]
            if not piece:
                break
            view[done: done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        return done

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self._size - self._pos)
        buf = bytearray(min(size, max(0, self._size - self._pos)))
        n = self.readinto(buf)
        return bytes(buf[:n])


def _iter_chunks(uow: UnitOfWork, blob_id: int) -> Iterator[bytes]:
    """The blob's chunks in order, one select per chunk (memory stays at one chunk)."""
    seq = 0
    while True:
        data = sql.scalar(uow, _CHUNK_SQL, {"blob": blob_id, "seq": seq})
        if data is None:
            return
        yield bytes(data)
        seq += 1


_INFO_SQL = """
SELECT a.id, a.ticket_id, a.original_name, a.mime_type, a.category, a.extension_mismatch, a.is_public,
       a.uploaded_by, a.uploaded_at, a.download_count, a.last_downloaded_at, a.last_downloaded_by,
       (a.thumbnail IS NOT NULL) AS has_thumb, a.thumbnail_error,
       b.id AS blob_id, b.sha256, b.size, b.scan_status, b.scan_signature, b.scan_reason, b.scanned_at
FROM attachments a JOIN blobs b ON b.id = a.blob_id AND b.organization_id = a.organization_id
WHERE a.organization_id = :org
"""


def _info(row, *, deduplicated: bool = False) -> AttachmentInfo:
    quarantined = row.scan_status == ScanStatus.INFECTED
    original_name = filetypes.decode_stored_name(row.original_name)
    return AttachmentInfo(
        id=row.id,
        ticket_id=row.ticket_id,
        original_name=original_name,
        safe_name=filetypes.safe_filename(original_name),
        size=row.size,
        mime_type=row.mime_type,
        category=row.category,
        extension_mismatch=row.extension_mismatch,
        is_public=row.is_public,
        scan_status=row.scan_status,
        scan_signature=row.scan_signature,
        scan_reason=row.scan_reason,
        has_thumbnail=bool(row.has_thumb) and row.scan_status == ScanStatus.CLEAN,
        thumbnail_error=row.thumbnail_error,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
        download_count=row.download_count,
        last_downloaded_at=row.last_downloaded_at,
        last_downloaded_by=row.last_downloaded_by,
        quarantined=quarantined,
        sha256=row.sha256,
        blob_id=row.blob_id,
        scanned_at=row.scanned_at,
        deduplicated=deduplicated,
    )


def _load_info(session, actor: Actor, attachment_id: int, *, lock: bool = False, deduplicated: bool = False):
    sql = _INFO_SQL + " AND a.id = :id" + (" FOR UPDATE OF a" if lock else "")
    row = session.execute(text(sql), {"org": actor.organization_id, "id": attachment_id}).first()
    if row is None:
        raise AttachmentNotFound(f"Attachment {attachment_id} does not exist.")
    return _info(row, deduplicated=deduplicated)


# --- ingest -------------------------------------------------------------------------------

def add_attachment(
    *,
    uow_factory,
    actor: Actor,
    ticket_id: int,
    source: Any,
    original_name: str | None = None,
    is_public: bool = False,
    scanner: ClamdScanner | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    allow_executables: bool = False,
) -> AttachmentInfo:
    """Store a file on a ticket, then scan it (and thumbnail it when clean).

    ``source`` is a path or a binary file object (read from its current position).
    ``original_name`` defaults to the file's own name and is kept exactly.
    ``progress(done_bytes, total_bytes_or_None)`` is called after each chunk;
    ``cancel()`` returning True stops the upload with ``UploadCancelled`` (nothing stored).
    Raises ``AttachmentTooLarge``, ``EmptyAttachment``, ``AttachmentTypeRefused``,
    ``UploadCancelled``, ``NotFound`` (ticket) — in every case nothing is stored.
    """
    src = _Source(source, original_name)
    try:
        attachment_id, blob_id, deduplicated = _store(
            uow_factory=uow_factory, actor=actor, ticket_id=ticket_id, src=src, is_public=is_public,
            progress=progress, cancel=cancel, allow_executables=allow_executables,
        )
    finally:
        src.close()
    if scanner is not None:
        _scan_blob(uow_factory=uow_factory, blob_id=blob_id, scanner=scanner)
    else:
        uow = uow_factory()
        with uow:
            uow.session.execute(
                text("SELECT desk_record_scan(id, 'pending', NULL, 'waiting for the virus scanner', NULL) "
                     "FROM blobs WHERE id = :b AND scan_status = 'pending' AND scan_reason IS NULL"),
                {"b": blob_id},
            )
            uow.commit()
    uow = uow_factory()
    with uow:
        return _load_info(uow.session, actor, attachment_id, deduplicated=deduplicated)


_INSERT_CHUNK = "INSERT INTO blob_chunks (organization_id, blob_id, seq, data) VALUES (:org, :blob, :seq, :data)"


def _store(*, uow_factory, actor, ticket_id, src: _Source, is_public, progress, cancel, allow_executables):
    org = actor.organization_id
    name = src.name
    uow = uow_factory()
    with uow:
        s = uow.session
        ticket = s.execute(
            text("SELECT id, number FROM tickets WHERE id = :t AND organization_id = :o"),
            {"t": ticket_id, "o": org},
        ).first()
        if ticket is None:
            raise NotFound(f"Ticket {ticket_id} does not exist.")
        limit = s.execute(text("SELECT max_attachment_bytes FROM organizations WHERE id = :o"), {"o": org}).scalar_one()
        if src.total is not None:
            if src.total == 0:
                raise EmptyAttachment(f"'{filetypes.display_name(name)}' is empty; empty files are not attached.")
            if src.total > limit:
                raise _too_large(name, src.total, limit)
        if cancel is not None and cancel():
            raise UploadCancelled(f"Upload of '{filetypes.display_name(name)}' cancelled.")

        first = src.read_chunk()
        if not first:
            raise EmptyAttachment(f"'{filetypes.display_name(name)}' is empty; empty files are not attached.")
        if len(first) > limit:
            raise _too_large(name, src.total, limit)
        second = src.read_chunk() if len(first) == CHUNK_SIZE else b""
        complete = not second and len(first) <= HEAD_BYTES
        head = first[:HEAD_BYTES]
        head_mime = sniff_head(head, complete=complete)
        # Refuse disguised programs before a single byte is stored.
        reason = filetypes.refusal_reason(name, head_mime, allow_executables=allow_executables)
        if reason:
            raise AttachmentTypeRefused(reason, mime_type=head_mime)

        blob_id = s.execute(
            text("INSERT INTO blobs (organization_id, sha256, size, chunk_count, mime_type) "
                 "VALUES (:o, :h, 0, 0, :m) RETURNING id"),
            {"o": org, "h": "~" + uuid.uuid4().hex, "m": head_mime[:120]},
        ).scalar_one()

        digest = hashlib.sha256()
        done = 0
        seq = 0
        # One INSERT per chunk with the bytes as a parameter (psycopg sends bytes in binary).
        # Not COPY: PostgreSQL refuses COPY FROM into tables with row-level security.
        chunk = first
        while chunk:
            if seq > 0 and cancel is not None and cancel():
                raise UploadCancelled(f"Upload of '{filetypes.display_name(name)}' cancelled.")
            done += len(chunk)
            if done > limit:
                raise _too_large(name, src.total if src.total and src.total > limit else None, limit)
            digest.update(chunk)
            sql.execute(uow, _INSERT_CHUNK, {"org": org, "blob": blob_id, "seq": seq, "data": chunk})
            seq += 1
            if progress is not None:
                progress(done, src.total)
            if second:
                chunk, second = second, b""
            elif seq == 1 and len(first) < CHUNK_SIZE:
                chunk = b""
            else:
                chunk = src.read_chunk()
        if cancel is not None and cancel():
            raise UploadCancelled(f"Upload of '{filetypes.display_name(name)}' cancelled.")
        sha = digest.hexdigest()

        mime = head_mime
        if looks_like_zip(head):
            inner = zip_container_type(BlobReader(uow, blob_id, done))
            if inner is not None:
                mime = inner
        reason = filetypes.refusal_reason(name, mime, allow_executables=allow_executables)
        if reason:
            raise AttachmentTypeRefused(reason, mime_type=mime)

        deduplicated = False
        existing = s.execute(
            text("SELECT id FROM blobs WHERE organization_id = :o AND sha256 = :h"), {"o": org, "h": sha}
        ).scalar()
        if existing is None:
            try:
                with s.begin_nested():
                    s.execute(
                        text("UPDATE blobs SET sha256 = :h, size = :n, chunk_count = :c, mime_type = :m WHERE id = :b"),
                        {"h": sha, "n": done, "c": seq, "m": mime[:120], "b": blob_id},
                    )
            except IntegrityError:
                # An identical upload committed while we were writing: use its blob.
                existing = s.execute(
                    text("SELECT id FROM blobs WHERE organization_id = :o AND sha256 = :h"), {"o": org, "h": sha}
                ).scalar_one()
        if existing is not None:
            s.execute(text("DELETE FROM blob_chunks WHERE blob_id = :b"), {"b": blob_id})
            s.execute(text("DELETE FROM blobs WHERE id = :b"), {"b": blob_id})
            blob_id = existing
            deduplicated = True

        category = filetypes.category_of(mime)
        mismatch = filetypes.extension_mismatch(name, mime)
        attachment_id = s.execute(
            text("INSERT INTO attachments (organization_id, ticket_id, blob_id, original_name, mime_type, category, "
                 "extension_mismatch, is_public, uploaded_by) "
                 "VALUES (:o, :t, :b, :n, :m, :c, :x, :p, :u) RETURNING id"),
            {"o": org, "t": ticket_id, "b": blob_id, "n": filetypes.encode_stored_name(name), "m": mime[:120], "c": str(category),
             "x": mismatch, "p": bool(is_public), "u": actor.name[:100]},
        ).scalar_one()
        # A reused clean blob may already have a thumbnail on another attachment.
        s.execute(
            text("UPDATE attachments a SET thumbnail = o.thumbnail, thumbnail_mime = o.thumbnail_mime, "
                 "thumbnail_error = o.thumbnail_error FROM (SELECT thumbnail, thumbnail_mime, thumbnail_error "
                 "FROM attachments WHERE blob_id = :b AND id <> :a AND category = :c "
                 "AND (thumbnail IS NOT NULL OR thumbnail_error IS NOT NULL) LIMIT 1) o WHERE a.id = :a"),
            {"b": blob_id, "a": attachment_id, "c": str(category)},
        )
        audit(
            uow, actor=actor, action="attachment.added", entity="attachment", entity_id=attachment_id,
            summary=f"Attached '{filetypes.display_name(name)}' to ticket {ticket.number} "
                    f"({category}, {_mib(done)}{', public' if is_public else ''}"
                    f"{', extension does not match content' if mismatch else ''})",
            details={"ticket_id": ticket_id, "original_name": filetypes.encode_stored_name(name), "size": done, "sha256": sha, "mime_type": mime,
                     "category": str(category), "extension_mismatch": mismatch, "is_public": bool(is_public),
                     "deduplicated": deduplicated, "blob_id": blob_id},
        )
        uow.record_change("attachment", attachment_id, org, "created")
        uow.record_change("ticket", ticket_id, org, "updated")
        uow.commit()
    return attachment_id, blob_id, deduplicated


# --- scanning -----------------------------------------------------------------------------

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
    """Scan blobs still pending (e.g. uploaded while clamd was down). Returns how many got a
    final status. Claims rows with FOR UPDATE SKIP LOCKED so several workers can run."""
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


# --- reading ------------------------------------------------------------------------------

def list_attachments(*, uow, actor: Actor, ticket_id: int) -> tuple[AttachmentInfo, ...]:
    with uow:
        rows = uow.session.execute(
            text(_INFO_SQL + " AND a.ticket_id = :t ORDER BY a.uploaded_at, a.id"),
            {"org": actor.organization_id, "t": ticket_id},
        ).all()
        return tuple(_info(r) for r in rows)


def get_attachment(*, uow, actor: Actor, attachment_id: int) -> AttachmentInfo:
    with uow:
        return _load_info(uow.session, actor, attachment_id)


def get_thumbnail(*, uow, actor: Actor, attachment_id: int) -> bytes | None:
    """The thumbnail (WebP/PNG bytes) of a clean image; None otherwise."""
    with uow:
        row = uow.session.execute(
            text("SELECT a.thumbnail, b.scan_status FROM attachments a JOIN blobs b ON b.id = a.blob_id "
                 "WHERE a.id = :a AND a.organization_id = :o"),
            {"a": attachment_id, "o": actor.organization_id},
        ).first()
        if row is None:
            raise AttachmentNotFound(f"Attachment {attachment_id} does not exist.")
        if row.scan_status != ScanStatus.CLEAN or row.thumbnail is None:
            return None
        return bytes(row.thumbnail)


def download_attachment(
    *,
    uow_factory,
    actor: Actor,
    attachment_id: int,
    dest: Any,
    admin_override: bool = False,
    reason: str | None = None,
    replace: bool = False,
) -> DownloadResult:
    """Stream an attachment to ``dest`` and count the download.

    ``dest``: a binary writable stream, a file path, or an existing folder (the file is
    saved there under its safe name). Files are written to a temporary name and renamed
    when complete and verified. An existing file is never replaced unless ``replace``
    (a user who confirmed it): saved into a folder, the new file is numbered
    (``report (1).pdf``); saved under a file name that exists, ``ValidationFailed``. Only a clean file is handed out: a quarantined one raises
    ``AttachmentQuarantined``, a pending or not scanned one ``AttachmentNotScanned``,
    unless an administrator overrides it with a reason (audited; the database lets only
    an administrator read the bytes of a file that is not clean).
    """
    uow = uow_factory()
    with uow:
        s = uow.session
        info = _load_info(s, actor, attachment_id)
        override = False
        if not info.is_clean:
            if not admin_override and info.quarantined:
                raise AttachmentQuarantined(
                    f"'{filetypes.display_name(info.original_name)}' is quarantined: the virus scanner found "
                    f"{info.scan_signature}. It cannot be downloaded; an administrator can override this "
                    "with a reason.",
                    signature=info.scan_signature,
                )
            if not admin_override:
                raise AttachmentNotScanned(
                    f"'{filetypes.display_name(info.original_name)}' is {info.status_text}: only files the virus "
                    "scanner found clean can be opened or saved; an administrator can override this with a reason.",
                    scan_status=info.scan_status,
                )
            if not actor.is_admin:
                raise PermissionDenied(f"Only an administrator can download a file that is {info.status_text}.")
            if not reason or not reason.strip():
                raise ValidationFailed(f"Give a reason for downloading a file that is {info.status_text}.",
                                       field="reason")
            override = True

        target_path: Path | None = None
        tmp_path: Path | None = None
        into_folder = False
        if isinstance(dest, (str, os.PathLike)):
            target_path = Path(dest)
            if target_path.is_dir():
                target_path = target_path / info.safe_name
                into_folder = True
            if not target_path.parent.is_dir():
                raise ValidationFailed(f"Folder {target_path.parent} does not exist.", field="dest")
            if not replace and not into_folder and os.path.lexists(target_path):
                raise ValidationFailed(f"{target_path} already exists; choose another name or remove it first.",
                                       field="dest")
            tmp_path = target_path.with_name(f".{target_path.name}.{uuid.uuid4().hex[:8]}.part")
            out: BinaryIO = open(tmp_path, "wb")  # noqa: SIM115
        elif hasattr(dest, "write"):
            out = dest
        else:
            raise ValidationFailed("dest must be a path, a folder or a writable binary stream", field="dest")

        digest = hashlib.sha256()
        written = 0
        try:
            for chunk in _iter_chunks(uow, info.blob_id):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
            if written != info.size or digest.hexdigest() != info.sha256:
                raise DeskError(
                    f"The stored copy of '{filetypes.display_name(info.original_name)}' could not be read "
                    f"completely ({written} of {info.size} bytes, or a different SHA-256); nothing was saved."
                )
            if tmp_path is not None:
                out.flush()
                os.fsync(out.fileno())
                out.close()
                if replace:
                    os.replace(tmp_path, target_path)
                else:
                    target_path = _link_without_replacing(tmp_path, target_path, numbered=into_folder)
                    tmp_path.unlink()
                tmp_path = None
        finally:
            if tmp_path is not None:
                try:
                    out.close()
                finally:
                    tmp_path.unlink(missing_ok=True)

        row = s.execute(
            text("UPDATE attachments SET download_count = download_count + 1, last_downloaded_at = now(), "
                 "last_downloaded_by = :by WHERE id = :a AND organization_id = :o "
                 "RETURNING download_count, last_downloaded_at"),
            {"by": actor.name[:100], "a": attachment_id, "o": actor.organization_id},
        ).one()
        if override:
            audit(uow, actor=actor, action="attachment.quarantine_override", entity="attachment",
                  entity_id=attachment_id,
                  summary=f"Downloaded '{filetypes.display_name(info.original_name)}' ({info.status_text}) "
                          f"by administrator override: {reason.strip()}",
                  details={"signature": info.scan_signature, "scan_status": info.scan_status,
                           "reason": reason.strip(), "path": str(target_path) if target_path else None})
        else:
            audit(uow, actor=actor, action="attachment.downloaded", entity="attachment", entity_id=attachment_id,
                  summary=f"Downloaded '{filetypes.display_name(info.original_name)}'",
                  details={"path": str(target_path) if target_path else None, "size": written})
        uow.record_change("attachment", attachment_id, actor.organization_id, "updated")
        uow.commit()
        return DownloadResult(
            attachment_id=attachment_id, safe_name=info.safe_name, size=written, sha256=info.sha256,
            path=str(target_path) if target_path else None, download_count=row.download_count,
            downloaded_at=row.last_downloaded_at, downloaded_by=actor.name, override=override,
        )


def _link_without_replacing(tmp_path: Path, target: Path, *, numbered: bool) -> Path:
    """Give the finished temporary file its name without replacing anything (a hard link
    fails if the name exists, atomically): ``numbered`` tries ``name (1).ext``, ``name (2).ext``…"""
    for n in range(1000 if numbered else 1):
        candidate = target if n == 0 else target.with_name(f"{target.stem} ({n}){target.suffix}")
        try:
            os.link(tmp_path, candidate)
            return candidate
        except FileExistsError:
            continue
    raise ValidationFailed(f"{target} already exists; choose another name or remove it first.", field="dest")


def set_attachment_visibility(*, uow, actor: Actor, attachment_id: int, is_public: bool) -> AttachmentInfo:
    """Make an attachment customer-visible (public) or internal (private); audited."""
    with uow:
        s = uow.session
        info = _load_info(s, actor, attachment_id, lock=True)
        if info.is_public == bool(is_public):
            return info
        if is_public and info.quarantined:
            raise AttachmentQuarantined(
                f"'{filetypes.display_name(info.original_name)}' is quarantined ({info.scan_signature}) "
                "and cannot be made visible to customers.",
                signature=info.scan_signature,
            )
        s.execute(
            text("UPDATE attachments SET is_public = :p WHERE id = :a AND organization_id = :o"),
            {"p": bool(is_public), "a": attachment_id, "o": actor.organization_id},
        )
        audit(uow, actor=actor, action="attachment.visibility", entity="attachment", entity_id=attachment_id,
              summary=f"'{filetypes.display_name(info.original_name)}' made "
                      f"{'public (customer-visible)' if is_public else 'private (internal)'}",
              details={"from": "public" if info.is_public else "private",
                       "to": "public" if is_public else "private"})
        uow.record_change("attachment", attachment_id, actor.organization_id, "updated")
        info = _load_info(s, actor, attachment_id)
        uow.commit()
        return info


def delete_attachment(*, uow, actor: Actor, attachment_id: int) -> None:
    """Remove an attachment from its ticket (audited). The stored bytes go when no other
    attachment uses them (``purge_unreferenced_blobs``)."""
    with uow:
        s = uow.session
        info = _load_info(s, actor, attachment_id, lock=True)
        s.execute(text("DELETE FROM attachments WHERE id = :a AND organization_id = :o"),
                  {"a": attachment_id, "o": actor.organization_id})
        audit(uow, actor=actor, action="attachment.deleted", entity="attachment", entity_id=attachment_id,
              summary=f"Removed '{filetypes.display_name(info.original_name)}' from the ticket",
              details={"ticket_id": info.ticket_id, "blob_id": info.blob_id, "sha256": info.sha256,
                       "size": info.size})
        uow.record_change("attachment", attachment_id, actor.organization_id, "deleted")
        uow.record_change("ticket", info.ticket_id, actor.organization_id, "updated")
        uow.commit()


def purge_unreferenced_blobs(*, uow_factory, older_than_seconds: int = 3600, limit: int = 100) -> int:
    """Delete stored files no attachment refers to any more (after attachments or tickets were
    deleted), with their chunks. For the housekeeping job; returns how many were removed.
    Blobs younger than ``older_than_seconds`` are left alone."""
    removed = 0
    for _ in range(max(0, limit)):
        uow = uow_factory()
        with uow:
            s = uow.session
            blob_id = s.execute(
                text("SELECT b.id FROM blobs b WHERE b.sha256 NOT LIKE '~%' "
                     "AND b.created_at <= now() - make_interval(secs => :age) "
                     "AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_id = b.id) "
                     "ORDER BY b.id LIMIT 1 FOR UPDATE SKIP LOCKED"),
                {"age": older_than_seconds},
            ).scalar()
            if blob_id is None:
                break
            s.execute(text("DELETE FROM blob_chunks WHERE blob_id = :b"), {"b": blob_id})
            s.execute(text("DELETE FROM blobs WHERE id = :b"), {"b": blob_id})
            uow.commit()
        removed += 1
    return removed


def request_rescan(*, uow, actor: Actor, attachment_id: int) -> AttachmentInfo:
    """Put a file that could not be scanned (error, size limit, scanner unavailable) back in
    the queue: it becomes ``pending`` and the ``rescan`` job scans it again. Audited.
    Clean and infected files keep their verdict."""
    with uow:
        s = uow.session
        info = _load_info(s, actor, attachment_id)
        if info.scan_status != ScanStatus.NOT_SCANNED:
            raise ValidationFailed(
                f"'{filetypes.display_name(info.original_name)}' is {info.status_text}; only files that "
                "could not be scanned can be queued for another scan.",
                field="scan_status",
            )
        _record_scan(uow, info.blob_id, ScanStatus.PENDING, reason=f"scan requested again by {actor.name}")
        audit(uow, actor=actor, action="attachment.rescan_requested", entity="attachment", entity_id=attachment_id,
              summary=f"Asked for '{filetypes.display_name(info.original_name)}' to be scanned again "
                      f"(was: {info.scan_reason})",
              details={"blob_id": info.blob_id, "previous_reason": info.scan_reason})
        uow.record_change("attachment", attachment_id, actor.organization_id, "updated")
        info = _load_info(s, actor, attachment_id)
        uow.commit()
        return info
