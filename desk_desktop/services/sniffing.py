"""Content sniffing: the MIME type of a file from its bytes, never from its name.

libmagic (python-magic) looks at the first bytes. Two things it cannot settle from a
header alone are refined here:

- zip containers: OOXML (DOCX/XLSX/PPTX), ODF (ODT/ODS/ODP) and EPUB are zips; we look
  inside (``[Content_Types].xml`` and ``word/``/``xl/``/``ppt/``, or the ODF ``mimetype``
  member) through a seekable reader, so only the central directory is read, not the file;
- text: CSV, JSON, XML and log files all look like "text/plain" to a header check.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import zipfile
from typing import BinaryIO

from desk_desktop.domain.filetypes import normalize_mime

# How much of the start of a file libmagic and the text checks look at.
HEAD_BYTES = 256 * 1024

ZIP_LIKE = frozenset({
    "application/zip", "application/x-zip-compressed", "application/java-archive",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation", "application/vnd.oasis.opendocument.graphics",
    "application/epub+zip", "application/octet-stream",
})

OOXML_WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
OOXML_EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OOXML_POWERPOINT = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

_magic_lock = threading.Lock()
_magic = None


def _magic_instance():
    # libmagic handles are not thread-safe; one shared handle behind a lock, created on first use.
    global _magic
    if _magic is None:
        import magic

        _magic = magic.Magic(mime=True)
    return _magic


def magic_mime(head: bytes) -> str:
    """libmagic's MIME type for the first bytes of a file."""
    if not head:
        return "application/x-empty"
    with _magic_lock:
        return normalize_mime(_magic_instance().from_buffer(head[:HEAD_BYTES]))


def looks_like_zip(head: bytes) -> bool:
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


# Looking inside a zip reads its central directory into memory: a hostile zip with
# millions of entries is only called a zip, never opened.
MAX_ZIP_ENTRIES = 20_000
MAX_ZIP_DIRECTORY_BYTES = 4 * 1024 * 1024


def _zip_directory_small(fileobj: BinaryIO) -> bool | None:
    """True when the end-of-central-directory record announces a modest directory; False
    when it is too big (or ZIP64); None when there is no such record."""
    try:
        end = fileobj.seek(0, io.SEEK_END)
        start = max(0, end - (65536 + 22))
        fileobj.seek(start)
        tail = fileobj.read(end - start)
    except (OSError, ValueError):
        return None
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return None
    entries = int.from_bytes(tail[pos + 10:pos + 12], "little")
    dir_size = int.from_bytes(tail[pos + 12:pos + 16], "little")
    if entries == 0xFFFF or dir_size == 0xFFFFFFFF:
        return False
    return entries <= MAX_ZIP_ENTRIES and dir_size <= MAX_ZIP_DIRECTORY_BYTES


def zip_container_type(fileobj: BinaryIO) -> str | None:
    """The MIME type of a zip container (OOXML, ODF, EPUB, JAR or plain zip); None if the
    file is not a readable zip. ``fileobj`` must be seekable; only the central directory
    and at most one small member are read."""
    small = _zip_directory_small(fileobj)
    if small is None:
        return None
    if not small:
        return "application/zip"
    try:
        fileobj.seek(0)
        zf = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None
    with zf:
        try:
            names = zf.namelist()
        except Exception:
            return None
        name_set = set(names)
        if "mimetype" in name_set:
            try:
                info = zf.getinfo("mimetype")
                if info.file_size <= 200:
                    declared = zf.read("mimetype").decode("ascii", "replace").strip().lower()
                    if declared.startswith("application/vnd.oasis.opendocument.") or declared == "application/epub+zip":
                        return declared
            except Exception:
                pass
        if "[Content_Types].xml" in name_set:
            if any(n.startswith("word/") for n in names):
                return OOXML_WORD
            if any(n.startswith("xl/") for n in names):
                return OOXML_EXCEL
            if any(n.startswith("ppt/") for n in names):
                return OOXML_POWERPOINT
        if "META-INF/MANIFEST.MF" in name_set and any(n.endswith(".class") for n in names):
            return "application/java-archive"
        return "application/zip"


_LOG_LINE = re.compile(
    r"^(\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}"          # ISO timestamps
    r"|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"               # syslog: 'Nov 25 22:48:42'
    r"|\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}"            # Apache-style
    r"|\[?\d{2}:\d{2}:\d{2}"                                  # time only
    r"|(?:DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRITICAL|FATAL|TRACE)\b)"
)


def _text_lines(head: bytes, complete: bool) -> list[str]:
    text = head.decode("utf-8", "replace")
    lines = text.splitlines()
    if not complete and lines:
        lines = lines[:-1]  # the last line may be cut off
    return [ln for ln in lines if ln.strip()]


def refine_text(mime: str, head: bytes, *, complete: bool) -> str:
    """Tell JSON, XML, CSV and logs apart from plain text. ``complete`` says whether
    ``head`` is the whole file."""
    if mime not in ("text/plain", "application/json", "text/json", "text/csv", "application/csv"):
        return mime
    body = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if body[:1] in (b"{", b"["):
        if complete:
            try:
                json.loads(body.decode("utf-8"))
                return "application/json"
            except (ValueError, UnicodeDecodeError):
                pass
        elif mime in ("application/json", "text/json") or re.match(rb'^[\[{]\s*("|\{|\[|\d|-|true|false|null|\])', body):
            return "application/json"
        # JSON lines?
        lines = _text_lines(head, complete)[:50]
        if lines and all(ln.lstrip().startswith(("{", "[")) for ln in lines):
            try:
                for ln in lines:
                    json.loads(ln)
                return "application/x-ndjson"
            except ValueError:
                pass
    if mime in ("application/json", "text/json"):
        return "application/json"
    if body.startswith(b"<?xml"):
        return "text/xml"
    lines = _text_lines(head, complete)[:100]
    if lines:
        log_hits = sum(1 for ln in lines if _LOG_LINE.match(ln))
        if log_hits >= max(2, int(len(lines) * 0.6)) or (len(lines) == 1 and log_hits == 1):
            return "text/x-log"
    if len(lines) >= 2 or mime in ("text/csv", "application/csv"):
        sample = "\n".join(lines[:50])
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
            rows = list(csv.reader(io.StringIO(sample), dialect))
            widths = {len(r) for r in rows if r}
            if len(widths) == 1 and next(iter(widths)) >= 2:
                return "text/tab-separated-values" if dialect.delimiter == "\t" else "text/csv"
        except csv.Error:
            pass
        if mime in ("text/csv", "application/csv"):
            return "text/csv"
    return "text/plain" if mime != "text/plain" and mime.startswith("text/") else mime


def sniff_head(head: bytes, *, complete: bool) -> str:
    """The MIME type from the first bytes only (no look inside zips)."""
    mime = magic_mime(head)
    if mime in ("text/plain", "application/json", "text/json", "text/csv", "application/csv"):
        mime = refine_text(mime, head, complete=complete)
    elif mime == "application/octet-stream" and looks_like_zip(head):
        mime = "application/zip"
    return mime


def sniff(head: bytes, *, seekable: BinaryIO | None = None, complete: bool = False) -> str:
    """The MIME type of a file from its content.

    ``head`` is the start of the file (up to ``HEAD_BYTES`` are used); ``seekable`` gives
    random access to the whole file, needed to look inside zip containers; ``complete``
    says that ``head`` is the whole file.
    """
    mime = sniff_head(head, complete=complete)
    if looks_like_zip(head) and mime in ZIP_LIKE:
        source = seekable if seekable is not None else (io.BytesIO(head) if complete else None)
        if source is not None:
            inner = zip_container_type(source)
            if inner is not None:
                return inner
    return mime
