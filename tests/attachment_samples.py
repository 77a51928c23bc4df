"""Sample files built in code (no fixtures on disk): one or more per category, plus hostile ones."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import wave
import zipfile

from tests.clamd_util import EICAR  # noqa: F401 — re-exported for the tests


def image(fmt: str, size=(64, 48), mode="RGB") -> bytes:
    from PIL import Image

    img = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128)
    for x in range(size[0]):
        img.putpixel((x, x % size[1]), (0, 0, 255) if mode == "RGB" else 0)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def jpeg_with_orientation(size=(80, 40), orientation=6) -> bytes:
    """A landscape JPEG whose EXIF says 'rotate 90°' (orientation 6)."""
    from PIL import Image

    img = Image.new("RGB", size, (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def svg() -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\n')


def pdf() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (255, 255, 255)).save(buf, format="PDF")
    return buf.getvalue()


def _zip(members: list[tuple[str, bytes]], *, stored_first: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(members):
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if (stored_first and i == 0) else zipfile.ZIP_DEFLATED)
    return buf.getvalue()


_CT = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


def docx() -> bytes:
    return _zip([("[Content_Types].xml", _CT), ("_rels/.rels", b"<Relationships/>"),
                 ("word/document.xml", b"<w:document/>")])


def xlsx() -> bytes:
    return _zip([("[Content_Types].xml", _CT), ("_rels/.rels", b"<Relationships/>"),
                 ("xl/workbook.xml", b"<workbook/>")])


def pptx() -> bytes:
    return _zip([("[Content_Types].xml", _CT), ("_rels/.rels", b"<Relationships/>"),
                 ("ppt/presentation.xml", b"<presentation/>")])


def odt() -> bytes:
    return _zip([("mimetype", b"application/vnd.oasis.opendocument.text"),
                 ("content.xml", b"<office:document-content/>"),
                 ("META-INF/manifest.xml", b"<manifest/>")], stored_first=True)


def plain_zip() -> bytes:
    return _zip([("readme.txt", b"hello " * 100), ("data/numbers.txt", b"1 2 3\n" * 50)])


def rtf() -> bytes:
    return b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}} Hello, boiler room.\\par}"


def wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 800)
    return buf.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4() -> bytes:
    return _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41") + _box(b"free", b"") + \
        _box(b"mdat", b"\x00" * 256)


def mov() -> bytes:
    return _box(b"ftyp", b"qt  " + struct.pack(">I", 0x200) + b"qt  ") + _box(b"mdat", b"\x00" * 256)


def m4a() -> bytes:
    return _box(b"ftyp", b"M4A " + struct.pack(">I", 0) + b"M4A mp42isom") + _box(b"mdat", b"\x00" * 256)


def webm() -> bytes:
    # EBML header: DocType "webm"
    doctype = b"\x42\x82\x84webm"
    body = b"\x42\x86\x81\x01" + b"\x42\xf7\x81\x01" + b"\x42\xf2\x81\x04" + b"\x42\xf3\x81\x08" + doctype + \
        b"\x42\x87\x81\x02" + b"\x42\x85\x81\x02"
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67\x01" + b"\x00" * 200


def avi() -> bytes:
    hdrl = b"LIST" + struct.pack("<I", 4 + 8 + 56) + b"hdrl" + b"avih" + struct.pack("<I", 56) + b"\x00" * 56
    body = b"AVI " + hdrl
    return b"RIFF" + struct.pack("<I", len(body)) + body


def flv() -> bytes:
    return b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00" + b"\x00" * 64


def wmv() -> bytes:
    asf_guid = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
    return asf_guid + struct.pack("<Q", 30) + b"\x00" * 200


def mp3() -> bytes:
    id3 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    return id3 + frame * 4


def ogg() -> bytes:
    vorbis_id = b"\x01vorbis" + struct.pack("<IBIiii", 0, 1, 44100, 0, 128000, 0) + b"\xb8\x01"
    header = b"OggS\x00\x02" + b"\x00" * 8 + struct.pack("<I", 1) + struct.pack("<I", 0) + b"\x00\x00\x00\x00" + \
        bytes([1, len(vorbis_id)])
    return header + vorbis_id + b"\x00" * 100


def flac() -> bytes:
    streaminfo = struct.pack(">HH", 4096, 4096) + b"\x00" * 6 + bytes.fromhex("0ac442f0000000") + b"\x00" * 3 + \
        b"\x00" * 16
    return b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo + b"\xff\xf8" + b"\x00" * 64


def seven_zip() -> bytes:
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24 + b"\x00" * 64


def rar() -> bytes:
    return b"Rar!\x1a\x07\x01\x00" + b"\x33\x92\xb5\xe5\x0a\x01\x05\x06\x00\x05\x01\x01\x80\x80\x00" + b"\x00" * 64


def gz() -> bytes:
    return gzip.compress(b"some log lines\n" * 100)


def tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"hello from a tarball\n" * 10
        info = tarfile.TarInfo("notes/hello.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def csv_text() -> bytes:
    return b"site,unit,reading\nA1,boiler,71.5\nA2,chiller,12.0\nB7,pump,3.3\n"


def json_text() -> bytes:
    return json.dumps({"ticket": "T-1", "readings": [1, 2, 3], "ok": True}, indent=2).encode()


def xml_text() -> bytes:
    return b'<?xml version="1.0"?>\n<readings><reading unit="boiler">71.5</reading></readings>\n'


def log_text() -> bytes:
    return (b"2026-11-25 08:00:01 INFO boiler started\n"
            b"2026-11-25 08:00:05 WARNING pressure high\n"
            b"2026-11-25 08:01:00 ERROR valve 3 stuck\n")


def plain_text() -> bytes:
    return b"The unit on the roof makes a grinding noise when it starts.\nPlease bring a ladder.\n"


def elf() -> bytes:
    """A minimal 64-bit Linux ELF executable header (never run)."""
    e_ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
    header = e_ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x400078, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x84, 0x84, 0x1000)
    code = b"\xb8\x3c\x00\x00\x00\x31\xff\x0f\x05"  # exit(0)
    return header + phdr + code


def pe() -> bytes:
    """A minimal Windows PE header (never run)."""
    dos = b"MZ" + b"\x90\x00" + b"\x00" * 56
    dos = dos[:0x3C] + struct.pack("<I", 0x80) + b"\x00" * (0x80 - 0x40)
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    opt = struct.pack("<H", 0x10B) + b"\x00" * (0xE0 - 2)
    section = b".text\x00\x00\x00" + b"\x00" * 32
    return dos + coff + opt + section + b"\x00" * 256


def shell_script() -> bytes:
    return b"#!/bin/sh\nrm -rf \"$HOME/important\"\n"


def decompression_bomb_png(width: int = 12000, height: int = 12000) -> bytes:
    """A small PNG file (a few hundred KiB) that decodes to width*height pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (width, height), 0).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# name -> (bytes factory, expected MIME, expected category)
CATEGORY_SAMPLES = {
    "photo.png": (lambda: image("PNG"), "image/png", "image"),
    "photo.jpg": (lambda: image("JPEG"), "image/jpeg", "image"),
    "photo.jpeg": (lambda: image("JPEG"), "image/jpeg", "image"),
    "anim.gif": (lambda: image("GIF"), "image/gif", "image"),
    "scan.bmp": (lambda: image("BMP"), None, "image"),
    "photo.webp": (lambda: image("WEBP"), "image/webp", "image"),
    "photo.tiff": (lambda: image("TIFF"), "image/tiff", "image"),
    "logo.svg": (svg, "image/svg+xml", "image"),
    "contract.pdf": (pdf, "application/pdf", "document"),
    "report.docx": (docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
    "sheet.xlsx": (xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
    "slides.pptx": (pptx, "application/vnd.openxmlformats-officedocument.presentationml.presentation", "document"),
    "letter.odt": (odt, "application/vnd.oasis.opendocument.text", "document"),
    "letter.rtf": (rtf, None, "document"),
    "notes.txt": (plain_text, "text/plain", "document"),
    "readings.csv": (csv_text, "text/csv", "other"),
    "readings.json": (json_text, "application/json", "other"),
    "readings.xml": (xml_text, "text/xml", "other"),
    "boiler.log": (log_text, "text/x-log", "other"),
    "clip.mp4": (mp4, "video/mp4", "video"),
    "clip.mov": (mov, "video/quicktime", "video"),
    "clip.webm": (webm, "video/webm", "video"),
    "clip.avi": (avi, None, "video"),
    "clip.flv": (flv, "video/x-flv", "video"),
    "clip.wmv": (wmv, None, "video"),
    "note.wav": (wav, None, "audio"),
    "note.mp3": (mp3, "audio/mpeg", "audio"),
    "note.ogg": (ogg, None, "audio"),
    "note.flac": (flac, None, "audio"),
    "note.m4a": (m4a, None, "audio"),
    "bundle.zip": (plain_zip, "application/zip", "archive"),
    "bundle.7z": (seven_zip, "application/x-7z-compressed", "archive"),
    "bundle.rar": (rar, None, "archive"),
    "bundle.tar": (tar, "application/x-tar", "archive"),
    "bundle.gz": (gz, "application/gzip", "archive"),
}
