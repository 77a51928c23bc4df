"""What the attachment operations share: errors, results, reading stored bytes, the info query."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import text

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.domain import filetypes
from desk_desktop.domain.enums import ScanStatus
from desk_desktop.services.common import (
    Actor,
    DeskError,
    NotFound,
    ValidationFailed,
)

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
