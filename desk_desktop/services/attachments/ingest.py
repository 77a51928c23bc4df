"""Storing an upload: streamed into content-addressed chunks, hashed, sized and sniffed on the way,
in one transaction (a refused, failed or cancelled upload leaves no rows)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from desk_desktop.db import sql
from desk_desktop.domain import filetypes
from desk_desktop.services.attachments.model import (
    CHUNK_SIZE,
    AttachmentInfo,
    AttachmentTypeRefused,
    BlobReader,
    CancelFn,
    EmptyAttachment,
    ProgressFn,
    UploadCancelled,
    _load_info,
    _mib,
    _Source,
    _too_large,
)
from desk_desktop.services.attachments.scan import WAITING_FOR_THE_SERVER, _scan_blob, may_record_verdicts
from desk_desktop.services.common import (
    Actor,
    NotFound,
    audit,
)
from desk_desktop.services.scanning import ClamdScanner
from desk_desktop.services.sniffing import HEAD_BYTES, looks_like_zip, sniff_head, zip_container_type

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
    uow = uow_factory()
    with uow:
        scanning_here = scanner is not None and may_record_verdicts(uow)
        if not scanning_here:
            uow.session.execute(
                text("SELECT desk_record_scan(id, 'pending', NULL, :why, NULL) "
                     "FROM blobs WHERE id = :b AND scan_status = 'pending' AND scan_reason IS NULL"),
                {"b": blob_id, "why": WAITING_FOR_THE_SERVER if scanner is not None else "waiting for the virus scanner"},
            )
            uow.commit()
    if scanning_here:
        _scan_blob(uow_factory=uow_factory, blob_id=blob_id, scanner=scanner)
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
