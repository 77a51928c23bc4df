"""Thumbnails for image attachments, made defensively with Pillow.

- only formats on an allowlist are parsed (``Image.open(formats=[...])``);
- a pixel limit far below Pillow's default (89.5 MP): the size from the header is checked
  before any pixel is decoded, and Pillow's ``DecompressionBombWarning`` is an error;
- EXIF orientation applied; the result is a small WebP (PNG if WebP is unavailable).

Any failure gives ``ThumbnailFailed`` with a reason a person can read; the attachment is
stored without a thumbnail.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
# 24 megapixels: a large phone photo, far below Pillow's 89.5 MP default.
MAX_PIXELS = 24_000_000
THUMBNAIL_SIZE = 256
MAX_THUMBNAIL_BYTES = 64 * 1024


class ThumbnailFailed(Exception):
    pass


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    mime_type: str
    width: int
    height: int


def make_thumbnail(fileobj: BinaryIO, *, max_pixels: int = MAX_PIXELS, size: int = THUMBNAIL_SIZE) -> Thumbnail:
    """A thumbnail of the image in ``fileobj`` (seekable), or ``ThumbnailFailed``."""
    from PIL import Image, ImageOps, UnidentifiedImageError, features

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fileobj, formats=list(ALLOWED_FORMATS))
        except UnidentifiedImageError:
            raise ThumbnailFailed(
                "not an image format we make thumbnails of (allowed: " + ", ".join(ALLOWED_FORMATS) + ")"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ThumbnailFailed(f"image refused as a decompression bomb: {exc}") from None
        except Exception as exc:  # noqa: BLE001 — hostile files raise anything
            raise ThumbnailFailed(f"unreadable image: {type(exc).__name__}: {exc}") from None
        try:
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ThumbnailFailed("image has no pixels")
            if width * height > max_pixels:
                raise ThumbnailFailed(
                    f"image is {width}×{height} ({width * height / 1e6:.1f} megapixels), above the "
                    f"{max_pixels / 1e6:g} megapixel limit for thumbnails (possible decompression bomb)"
                )
            frames = getattr(img, "n_frames", 1)
            if frames * width * height > max_pixels * 4:
                raise ThumbnailFailed(f"animation too large for a thumbnail ({frames} frames of {width}×{height})")
            if img.format == "JPEG":
                img.draft("RGB", (size, size))
            img.load()
            img = ImageOps.exif_transpose(img)
            img.thumbnail((size, size))
            if img.mode not in ("RGB", "RGBA"):
                img = img.convert("RGBA" if ("A" in img.getbands() or "transparency" in img.info) else "RGB")
            out = io.BytesIO()
            if features.check("webp"):
                img.save(out, format="WEBP", quality=75, method=4)
                mime = "image/webp"
            else:
                img.save(out, format="PNG", optimize=True)
                mime = "image/png"
            data = out.getvalue()
            if len(data) > MAX_THUMBNAIL_BYTES:
                raise ThumbnailFailed(f"thumbnail came out too large ({len(data)} bytes)")
            return Thumbnail(data=data, mime_type=mime, width=img.width, height=img.height)
        except ThumbnailFailed:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ThumbnailFailed(f"image refused as a decompression bomb: {exc}") from None
        except MemoryError:
            raise ThumbnailFailed("image needs too much memory to decode") from None
        except Exception as exc:  # noqa: BLE001
            raise ThumbnailFailed(f"unreadable image: {type(exc).__name__}: {exc}") from None
        finally:
            try:
                img.close()
            except Exception:  # noqa: BLE001
                pass
