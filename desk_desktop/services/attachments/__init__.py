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

from desk_desktop.services.attachments.access import (
    delete_attachment,
    download_attachment,
    get_attachment,
    get_thumbnail,
    list_attachments,
    purge_unreferenced_blobs,
    request_rescan,
    set_attachment_visibility,
)
from desk_desktop.services.attachments.ingest import add_attachment
from desk_desktop.services.attachments.model import (
    CHUNK_SIZE,
    MAX_UNAVAILABLE_ATTEMPTS,
    AttachmentInfo,
    AttachmentNotFound,
    AttachmentNotScanned,
    AttachmentQuarantined,
    AttachmentTooLarge,
    AttachmentTypeRefused,
    BlobReader,
    CancelFn,
    DownloadResult,
    EmptyAttachment,
    ProgressFn,
    UploadCancelled,
)
from desk_desktop.services.attachments.scan import rescan_pending

__all__ = [
    "AttachmentInfo",
    "AttachmentNotFound",
    "AttachmentNotScanned",
    "AttachmentQuarantined",
    "AttachmentTooLarge",
    "AttachmentTypeRefused",
    "BlobReader",
    "CHUNK_SIZE",
    "CancelFn",
    "DownloadResult",
    "EmptyAttachment",
    "MAX_UNAVAILABLE_ATTEMPTS",
    "ProgressFn",
    "UploadCancelled",
    "add_attachment",
    "delete_attachment",
    "download_attachment",
    "get_attachment",
    "get_thumbnail",
    "list_attachments",
    "purge_unreferenced_blobs",
    "request_rescan",
    "rescan_pending",
    "set_attachment_visibility",
]
