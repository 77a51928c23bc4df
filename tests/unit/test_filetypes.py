"""File types, safe names, content sniffing and thumbnails — no database, no clamd."""

from __future__ import annotations

import io
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk_desktop.domain import filetypes as ft
from desk_desktop.services import sniffing
from desk_desktop.services.scanning import ClamdScanner, ScannerUnavailable, parse_address
from desk_desktop.services.thumbnails import MAX_PIXELS, ThumbnailFailed, make_thumbnail
from tests import attachment_samples as samples

# --- categories and extensions ---------------------------------------------------------


@pytest.mark.parametrize("mime,category", [
    ("image/jpeg", "image"), ("image/png", "image"), ("image/gif", "image"), ("image/bmp", "image"),
    ("image/x-ms-bmp", "image"), ("image/svg+xml", "image"), ("image/webp", "image"), ("image/x-unknown", "image"),
    ("application/pdf", "document"), ("application/msword", "document"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
    ("application/vnd.ms-excel", "document"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
    ("application/vnd.ms-powerpoint", "document"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "document"),
    ("text/plain", "document"), ("text/rtf", "document"), ("application/vnd.oasis.opendocument.text", "document"),
    ("text/csv", "other"), ("application/json", "other"), ("text/xml", "other"), ("text/x-log", "other"),
    ("application/zip", "archive"), ("application/x-rar", "archive"), ("application/x-7z-compressed", "archive"),
    ("application/x-tar", "archive"), ("application/gzip", "archive"),
    ("video/mp4", "video"), ("video/x-msvideo", "video"), ("video/quicktime", "video"), ("video/x-ms-asf", "video"),
    ("video/x-flv", "video"), ("video/webm", "video"),
    ("audio/mpeg", "audio"), ("audio/x-wav", "audio"), ("audio/ogg", "audio"), ("audio/flac", "audio"),
    ("audio/x-m4a", "audio"),
    ("application/octet-stream", "other"), ("application/x-executable", "other"), (None, "other"),
    ("Image/PNG; charset=binary", "image"),
])
def test_category_of(mime, category):
    assert ft.category_of(mime) == category


@pytest.mark.parametrize("name,mime,mismatch", [
    ("photo.png", "image/png", False),
    ("photo.PNG", "image/png", False),
    ("contract.pdf", "image/png", True),
    ("holiday.jpg", "image/jpeg", False),
    ("holiday.jpeg", "image/jpeg", False),
    ("holiday.png", "image/jpeg", True),
    ("report.docx", "application/zip", True),
    ("bundle.zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", True),
    ("readings.txt", "text/csv", False),   # text flavours are interchangeable
    ("boiler.log", "text/csv", False),
    ("noext", "image/png", False),          # claims nothing
    ("data.xyz123", "image/png", False),    # unknown extension claims nothing
    ("photo.png", "application/octet-stream", False),
    ("archive.tar.gz", "application/gzip", False),
    ("song.mp3", "video/mp4", True),
])
def test_extension_mismatch(name, mime, mismatch):
    assert ft.extension_mismatch(name, mime) is mismatch


@pytest.mark.parametrize("name,mime,refused,allowed", [
    ("invoice.pdf", "application/x-executable", True, True),
    ("invoice.pdf", "application/vnd.microsoft.portable-executable", True, True),
    ("photo.jpg", "text/x-shellscript", True, True),
    ("setup.exe", "application/x-dosexec", True, False),   # honest: refused by default, allowed on request
    ("install.sh", "text/x-shellscript", True, False),
    ("report.pdf", "application/pdf", False, False),
    ("notes.txt", "text/plain", False, False),
])
def test_refusal_of_programs(name, mime, refused, allowed):
    assert (ft.refusal_reason(name, mime) is not None) is refused
    assert (ft.refusal_reason(name, mime, allow_executables=True) is not None) is allowed


def test_refusal_message_names_the_claim():
    msg = ft.refusal_reason("invoice.pdf", "application/x-executable")
    assert "invoice.pdf" in msg and ".pdf" in msg and "program" in msg


# --- safe names -----------------------------------------------------------------------------

@pytest.mark.parametrize("name,safe", [
    ("report.pdf", "report.pdf"),
    ("Report Final.PDF", "Report Final.PDF"),
    ("../../etc/passwd", "etc_passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("/absolute/path/photo.jpg", "absolute_path_photo.jpg"),
    ("C:\\Users\\x\\photo.jpg", "C_Users_x_photo.jpg"),
    ("a\x00b.pdf", "ab.pdf"),
    ("tab\there.txt", "tabhere.txt"),
    ("bell\x07.txt", "bell.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),
    ("\u200bzero\u200dwidth.png", "zerowidth.png"),
    ("CON", "_CON"),
    ("con.txt", "_con.txt"),
    ("COM1.log", "_COM1.log"),
    ("LPT9", "_LPT9"),
    ("CONSOLE.txt", "CONSOLE.txt"),
    ("what?*<>|\".txt", "what_.txt"),
    ("trailing dots...", "trailing dots"),
    ("  spaced  out  .txt ", "spaced out.txt"),
    ("", "attachment"),
    ("\x00\x01", "attachment"),
    (".pdf", "pdf"),
    ("café.pdf", "café.pdf"),
])
def test_safe_filename(name, safe):
    assert ft.safe_filename(name) == safe


def test_safe_filename_limits_length_and_keeps_extension():
    name = "x" * 500 + ".docx"
    safe = ft.safe_filename(name)
    assert safe.endswith(".docx") and len(safe) <= ft.MAX_SAFE_NAME_CHARS
    wide = "漢" * 200 + ".pdf"
    safe = ft.safe_filename(wide)
    assert safe.endswith(".pdf") and len(safe.encode()) <= ft.MAX_SAFE_NAME_BYTES


@given(st.text(max_size=300))
def test_safe_filename_is_always_safe(name):
    safe = ft.safe_filename(name)
    assert safe and safe == safe.strip(" .")
    assert not set(safe) & set('/\\:*?"<>|')
    assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") for ch in safe)
    assert safe.split(".")[0].lower() not in ("con", "prn", "aux", "nul", "com1", "lpt1")
    assert len(safe.encode("utf-8")) <= ft.MAX_SAFE_NAME_BYTES
    assert ft.safe_filename(safe) == safe  # idempotent


@given(st.text(max_size=200))
def test_stored_names_round_trip_exactly(name):
    stored = ft.encode_stored_name(name)
    assert "\x00" not in stored
    assert ft.decode_stored_name(stored) == name


# --- sniffing -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(samples.CATEGORY_SAMPLES))
def test_sniffing_detects_each_sample(name):
    make, mime, category = samples.CATEGORY_SAMPLES[name]
    data = make()
    got = sniffing.sniff(data[: sniffing.HEAD_BYTES], seekable=io.BytesIO(data), complete=True)
    assert ft.category_of(got) == category, got
    if mime:
        assert got == mime
    assert not ft.extension_mismatch(name, got)


def test_docx_is_not_plain_zip_only_when_looking_inside():
    data = samples.docx()
    assert sniffing.sniff(data, seekable=io.BytesIO(data)).endswith("wordprocessingml.document")
    # A zip with word/ but no [Content_Types].xml is just a zip.
    fake = samples._zip([("word/document.xml", b"<x/>"), ("a.txt", b"a")])
    assert sniffing.sniff(fake, seekable=io.BytesIO(fake)) == "application/zip"


def _legacy_xls(rows: int) -> bytes:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Parts")
    for i in range(rows):
        sheet.write(i, 0, f"Part {i:05d} — gasket, boiler model LX-{i % 40}")
        sheet.write(i, 1, i * 1.25)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("rows", [50, 60_000])  # ~10 KiB and ~5 MiB (directory far past the sniffed head)
def test_legacy_office_files_are_documents_without_a_mismatch(rows):
    data = _legacy_xls(rows)
    assert data[:8] == bytes.fromhex("d0cf11e0a1b11ae1")  # a real OLE2 compound file
    got = sniffing.sniff(data[: sniffing.HEAD_BYTES], seekable=io.BytesIO(data), complete=len(data) <= sniffing.HEAD_BYTES)
    assert ft.category_of(got) == "document", got
    assert not ft.extension_mismatch("price list.xls", got)
    assert ft.refusal_reason("price list.xls", got) is None


def test_truncated_zip_stays_a_zip_or_unknown():
    data = samples.plain_zip()
    head = data[:40]
    got = sniffing.sniff(head, seekable=io.BytesIO(head), complete=True)
    assert ft.category_of(got) in ("archive", "other")


@pytest.mark.parametrize("make,expected", [(samples.elf, "application/x-executable"),
                                           (samples.pe, "application/vnd.microsoft.portable-executable"),
                                           (samples.shell_script, "text/x-shellscript")])
def test_programs_are_recognised(make, expected):
    mime = sniffing.sniff(make(), complete=True)
    assert mime == expected and ft.is_executable(mime)


def test_text_refinement():
    assert sniffing.refine_text("text/plain", b"a;b;c\n1;2;3\n4;5;6\n", complete=True) == "text/csv"
    assert sniffing.refine_text("text/plain", b"a\tb\n1\t2\n", complete=True) == "text/tab-separated-values"
    assert sniffing.refine_text("text/plain", b'{"a": 1}\n{"a": 2}\n', complete=True) == "application/x-ndjson"
    assert sniffing.refine_text("text/plain", b"Nov 25 22:48:42 host cron[1]: ok\nNov 25 22:49:00 host x: y\n",
                                complete=True) == "text/x-log"
    assert sniffing.refine_text("text/plain", b"Hello, world.\nHow are you?\n", complete=True) == "text/plain"


# --- thumbnails -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"])
def test_thumbnail_of_each_allowed_format(fmt):
    from PIL import Image

    thumb = make_thumbnail(io.BytesIO(samples.image(fmt, (900, 300))))
    img = Image.open(io.BytesIO(thumb.data))
    assert max(img.size) == 256 and img.size[0] > img.size[1]
    assert thumb.mime_type in ("image/webp", "image/png")


def test_thumbnail_applies_exif_orientation():
    thumb = make_thumbnail(io.BytesIO(samples.jpeg_with_orientation((400, 200), orientation=6)))
    assert thumb.height > thumb.width


def test_thumbnail_refuses_decompression_bombs_below_pillows_own_limit():
    side = int((MAX_PIXELS * 1.5) ** 0.5)  # 1.5 x our limit, well under Pillow's 89.5 MP
    with pytest.raises(ThumbnailFailed, match="megapixel"):
        make_thumbnail(io.BytesIO(samples.decompression_bomb_png(side, side)))


def test_thumbnail_turns_pillows_bomb_warning_into_an_error():
    # Above Pillow's warning threshold, even if our own limit were lifted.
    with pytest.raises(ThumbnailFailed, match="decompression bomb"):
        make_thumbnail(io.BytesIO(samples.decompression_bomb_png(10000, 10000)), max_pixels=10**9)


@pytest.mark.parametrize("data,reason", [
    (samples.svg(), "not an image format"),
    (samples.pdf(), "not an image format"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ""),
    (samples.image("PNG", (200, 200))[:300], "unreadable"),
])
def test_thumbnail_failures_have_reasons(data, reason):
    with pytest.raises(ThumbnailFailed) as exc:
        make_thumbnail(io.BytesIO(data))
    assert reason in str(exc.value) and str(exc.value)


# --- clamd client (no daemon) ---------------------------------------------------------------

def test_parse_address():
    import socket

    assert parse_address("unix:/run/clamav/clamd.ctl") == (socket.AF_UNIX, "/run/clamav/clamd.ctl")
    assert parse_address("/tmp/c.sock") == (socket.AF_UNIX, "/tmp/c.sock")
    assert parse_address("tcp:10.0.0.5:3310") == (socket.AF_INET, ("10.0.0.5", 3310))
    with pytest.raises(ValueError):
        parse_address("tcp:nohost")
    with pytest.raises(ValueError):
        parse_address("http://x")


def test_unreachable_scanner(tmp_path):
    scanner = ClamdScanner(f"unix:{tmp_path / 'none.sock'}", timeout=1)
    assert scanner.ping() is False
    with pytest.raises(ScannerUnavailable):
        scanner.scan_bytes(b"x")


def _one_reply_clamd(path, reply: str):
    """A stand-in clamd on a Unix socket: reads one INSTREAM to its end, answers ``reply``."""
    import socket
    import struct
    import threading

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            stream = conn.makefile("rb")
            assert stream.read(10) == b"zINSTREAM\0"
            while (size := struct.unpack("!L", stream.read(4))[0]) != 0:
                stream.read(size)
            conn.sendall(reply.encode() + b"\0")

    threading.Thread(target=serve, daemon=True).start()
    return path


@pytest.mark.parametrize("reply,status,detail", [
    ("stream: OK", "clean", None),
    ("stream: Eicar-Test-Signature FOUND", "infected", "Eicar-Test-Signature"),
    ("INSTREAM size limit exceeded. ERROR", "not_scanned", "size limit exceeded"),
    ("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND", "not_scanned", "size limit exceeded"),
    ("stream: Can't allocate memory ERROR", "not_scanned", "error"),
    ("", "not_scanned", "error"),
])
def test_reply_interpretation(reply, status, detail, tmp_path):
    res = ClamdScanner(f"unix:{_one_reply_clamd(tmp_path / 'clamd.sock', reply)}", timeout=5).scan_bytes(b"data")
    assert res.status == status
    if status == "infected":
        assert res.signature == detail
    elif detail:
        assert res.reason.startswith(detail)


def test_files_above_the_trusted_limit_are_not_sent():
    scanner = ClamdScanner("unix:/nonexistent.sock", trusted_max_bytes=10)
    res = scanner.scan_stream([b"x" * 11], size=11)  # no connection attempted
    assert res.status == "not_scanned" and "size limit exceeded" in res.reason


def test_zip_with_a_huge_directory_is_not_opened(monkeypatch):
    data = samples.docx()
    monkeypatch.setattr(sniffing, "MAX_ZIP_ENTRIES", 2)
    assert sniffing.sniff(data, seekable=io.BytesIO(data)) == "application/zip"
    monkeypatch.setattr(sniffing, "MAX_ZIP_ENTRIES", 20_000)
    assert sniffing.sniff(data, seekable=io.BytesIO(data)).endswith("wordprocessingml.document")
