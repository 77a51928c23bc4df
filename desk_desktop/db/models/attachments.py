"""Stored files: content-addressed blobs, their chunks, and the attachments that name them on a ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from desk_desktop.db.base import Base, TenantMixin, utcnow_column


class Blob(TenantMixin, Base):
    """Content-addressed file body, one per organization per SHA-256; scanned once."""

    __tablename__ = "blobs"
    __table_args__ = (
        UniqueConstraint("organization_id", "sha256"),
        CheckConstraint(
            "scan_status IN ('pending','clean','infected','not_scanned')", name="scan_status"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False)
    mime_type: Mapped[str] = mapped_column(String(120), nullable=False)
    scan_status: Mapped[str] = mapped_column(String(12), nullable=False, server_default=text("'pending'"))
    scan_signature: Mapped[str | None] = mapped_column(String(200))
    scan_reason: Mapped[str | None] = mapped_column(Text)
    scanned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scan_attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = utcnow_column()


class BlobChunk(TenantMixin, Base):
    __tablename__ = "blob_chunks"

    blob_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Attachment(TenantMixin, Base):
    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(
            "category IN ('image','document','video','audio','archive','other')", name="category"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    blob_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("blobs.id", ondelete="RESTRICT"), nullable=False, index=True)
    original_name: Mapped[str] = mapped_column(Text, nullable=False)
    mime_type: Mapped[str] = mapped_column(String(120), nullable=False)
    category: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    extension_mismatch: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    is_public: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"), index=True)
    uploaded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    uploaded_at: Mapped[datetime] = utcnow_column()
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary)
    thumbnail_mime: Mapped[str | None] = mapped_column(String(40))
    thumbnail_error: Mapped[str | None] = mapped_column(Text)
    download_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    last_downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_downloaded_by: Mapped[str | None] = mapped_column(String(100))
