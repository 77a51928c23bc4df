"""Reading attachments: lists, thumbnails, tracked downloads (clean files only unless an audited
administrator override), visibility, deletion, purging unreferenced blobs, rescans."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import text

from desk_desktop.domain import filetypes
from desk_desktop.domain.enums import ScanStatus
from desk_desktop.services.attachments.model import (
    _INFO_SQL,
    AttachmentInfo,
    AttachmentNotFound,
    AttachmentNotScanned,
    AttachmentQuarantined,
    DownloadResult,
    _info,
    _iter_chunks,
    _load_info,
)
from desk_desktop.services.attachments.scan import _record_scan
from desk_desktop.services.common import (
    Actor,
    DeskError,
    PermissionDenied,
    ValidationFailed,
    audit,
)

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
