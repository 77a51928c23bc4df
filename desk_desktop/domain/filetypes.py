"""File types: category of a MIME type, expected extensions, disguised executables, safe names.

Pure functions (no I/O). The MIME type always comes from the content (``services/sniffing``);
the name is only checked against it.
"""

from __future__ import annotations

import re
import unicodedata

from desk_desktop.domain.enums import AttachmentCategory

# MIME type (lower case, without parameters) -> (category, expected extensions).
# Aliases that different libmagic versions report are listed separately.
_TYPES: dict[str, tuple[AttachmentCategory, tuple[str, ...]]] = {}


def _add(category: AttachmentCategory, extensions: tuple[str, ...], *mimes: str) -> None:
    for mime in mimes:
        _TYPES[mime] = (category, extensions)


_I, _D, _V, _A, _R = (
    AttachmentCategory.IMAGE,
    AttachmentCategory.DOCUMENT,
    AttachmentCategory.VIDEO,
    AttachmentCategory.AUDIO,
    AttachmentCategory.ARCHIVE,
)
# Images
_add(_I, ("jpg", "jpeg", "jpe", "jfif"), "image/jpeg", "image/pjpeg")
_add(_I, ("png",), "image/png")
_add(_I, ("gif",), "image/gif")
_add(_I, ("bmp", "dib"), "image/bmp", "image/x-ms-bmp", "image/x-bmp")
_add(_I, ("svg", "svgz"), "image/svg+xml")
_add(_I, ("webp",), "image/webp")
_add(_I, ("tif", "tiff"), "image/tiff")
_add(_I, ("heic", "heif"), "image/heic", "image/heif")
_add(_I, ("ico",), "image/vnd.microsoft.icon", "image/x-icon")
# Documents
_add(_D, ("pdf",), "application/pdf")
_add(_D, ("doc", "dot"), "application/msword")
_add(_D, ("docx", "docm", "dotx"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
_add(_D, ("xls", "xlt"), "application/vnd.ms-excel")
_add(_D, ("xlsx", "xlsm", "xltx"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_add(_D, ("ppt", "pps", "pot"), "application/vnd.ms-powerpoint")
_add(_D, ("pptx", "pptm", "ppsx"), "application/vnd.openxmlformats-officedocument.presentationml.presentation")
_add(_D, ("doc", "xls", "ppt", "msg"), "application/x-ole-storage", "application/cdfv2")
_add(_D, ("rtf",), "text/rtf", "application/rtf")
_add(_D, ("odt",), "application/vnd.oasis.opendocument.text")
_add(_D, ("ods",), "application/vnd.oasis.opendocument.spreadsheet")
_add(_D, ("odp",), "application/vnd.oasis.opendocument.presentation")
_add(_D, ("odg",), "application/vnd.oasis.opendocument.graphics")
_add(_D, ("epub",), "application/epub+zip")
# Text: any of the text extensions fits any of these (a CSV saved as .txt, a log with
# commas detected as CSV... are not contradictions). Prose is a document; data files
# (CSV, JSON, XML, logs) are "other", as the platform lists them.
_TEXT_EXTENSIONS = ("txt", "text", "log", "csv", "tsv", "json", "xml", "md", "ini", "cfg", "conf", "yaml", "yml")
_add(_D, _TEXT_EXTENSIONS, "text/plain", "text/markdown")
DATA_TEXT_TYPES = ("text/csv", "text/tab-separated-values", "text/x-log", "application/json", "text/json",
                   "application/xml", "text/xml", "application/x-ndjson")
_add(AttachmentCategory.OTHER, _TEXT_EXTENSIONS, *DATA_TEXT_TYPES)
_add(_D, ("html", "htm"), "text/html")
# Video
_add(_V, ("mp4", "m4v"), "video/mp4")
_add(_V, ("avi",), "video/x-msvideo", "video/avi", "video/msvideo")
_add(_V, ("mov", "qt"), "video/quicktime")
_add(_V, ("wmv", "asf"), "video/x-ms-wmv", "video/x-ms-asf")
_add(_V, ("flv",), "video/x-flv")
_add(_V, ("webm",), "video/webm")
_add(_V, ("mkv",), "video/x-matroska")
_add(_V, ("mpg", "mpeg"), "video/mpeg")
_add(_V, ("3gp",), "video/3gpp")
_add(_V, ("ogv", "ogg"), "video/ogg")
# Audio
_add(_A, ("mp3",), "audio/mpeg", "audio/mp3")
_add(_A, ("wav",), "audio/x-wav", "audio/wav", "audio/vnd.wave", "audio/wave")
_add(_A, ("ogg", "oga", "opus"), "audio/ogg", "application/ogg", "audio/opus")
_add(_A, ("flac",), "audio/flac", "audio/x-flac")
_add(_A, ("m4a", "mp4", "aac"), "audio/x-m4a", "audio/mp4", "audio/m4a")
_add(_A, ("aac",), "audio/aac", "audio/x-hx-aac-adts")
_add(_A, ("wma",), "audio/x-ms-wma")
_add(_A, ("aif", "aiff"), "audio/x-aiff")
# Archives
_add(_R, ("zip",), "application/zip", "application/x-zip-compressed")
_add(_R, ("rar",), "application/x-rar", "application/vnd.rar", "application/x-rar-compressed")
_add(_R, ("7z",), "application/x-7z-compressed")
_add(_R, ("tar",), "application/x-tar", "application/x-gtar", "application/x-ustar")
_add(_R, ("gz", "tgz"), "application/gzip", "application/x-gzip")
_add(_R, ("bz2", "tbz2"), "application/x-bzip2")
_add(_R, ("xz", "txz"), "application/x-xz")
_add(_R, ("zst",), "application/zstd")
_add(_R, ("jar",), "application/java-archive")

# Executables and scripts: refused unless the name honestly says what they are (and even
# then only when the caller allows executables).
_EXECUTABLES: dict[str, tuple[str, ...]] = {
    "application/x-executable": ("", "bin", "elf", "run", "out"),
    "application/x-pie-executable": ("", "bin", "elf", "run", "out"),
    "application/x-sharedlib": ("so",),
    "application/x-object": ("o",),
    "application/x-elf": ("", "bin", "elf"),
    "application/x-coredump": ("core",),
    "application/x-dosexec": ("exe", "dll", "sys", "com", "scr", "cpl", "ocx", "efi"),
    "application/vnd.microsoft.portable-executable": ("exe", "dll", "sys", "scr", "cpl", "ocx", "efi"),
    "application/x-msdownload": ("exe", "dll"),
    "application/x-msdos-program": ("exe", "com", "bat"),
    "application/x-mach-binary": ("", "dylib", "bundle"),
    "application/x-msi": ("msi",),
    "application/x-ms-shortcut": ("lnk",),
    "text/x-shellscript": ("sh", "bash", "zsh", "ksh", "csh", "command"),
    "application/x-sh": ("sh",),
    "application/x-shellscript": ("sh",),
    "text/x-python": ("py", "pyw"),
    "text/x-script.python": ("py", "pyw"),
    "text/x-perl": ("pl", "pm"),
    "text/x-ruby": ("rb",),
    "text/x-php": ("php", "phtml"),
    "application/x-php": ("php",),
    "text/x-msdos-batch": ("bat", "cmd"),
    "text/x-tcl": ("tcl",),
    "text/x-lua": ("lua",),
    "application/javascript": ("js", "mjs"),
    "text/javascript": ("js", "mjs"),
    "application/x-powershell": ("ps1", "psm1"),
    "application/hta": ("hta",),
    "application/x-java-applet": ("class",),
    "application/x-java-vm": ("class",),
}
# Names that claim to be one of these are never accepted for executable content.
EXECUTABLE_EXTENSIONS = frozenset(
    ext for exts in _EXECUTABLES.values() for ext in exts if ext
) | {"vbs", "vbe", "wsf", "wsh", "jse", "pif", "reg", "appimage", "deb", "rpm", "apk", "dmg", "pkg"}


# Names the desktop runs, installs, mounts or follows when such a file is opened, whatever
# is inside (an HTML file named .hta runs as a program; .lnk/.url point anywhere): refused
# by name at upload and never opened, only saved.
RUNNABLE_EXTENSIONS = frozenset(
    (EXECUTABLE_EXTENSIONS - {"bin", "out", "elf", "o", "so", "core", "run"})
    | {"hta", "htaccess", "vbs", "vbe", "js", "jse", "mjs", "wsf", "wsh", "wsc", "sct", "cmd", "bat", "ps1", "psm1",
       "psd1", "ps1xml", "psc1", "jar", "jnlp", "iso", "img", "vhd", "vhdx", "udf", "lnk", "url", "website", "scf",
       "pif", "scr", "com", "cpl", "msi", "msp", "mst", "msc", "reg", "inf", "chm", "hlp", "application",
       "appref-ms", "gadget", "settingcontent-ms", "library-ms", "searchconnector-ms", "xbap", "appx", "appxbundle",
       "msix", "msixbundle", "desktop", "app", "command", "workflow", "action", "terminal", "xpi", "crx",
       "elf", "sh", "bash", "py", "pyw", "pl", "rb", "php", "ps2", "ade", "adp", "mde", "mda", "accde", "mam",
       "xll", "xla", "xlam", "ppam", "one", "onepkg", "diagcab", "mshxml", "dll", "ocx", "sys", "drv"}
)


def is_runnable_name(name: str) -> bool:
    """True when opening a file of this name would run, install, mount or follow something
    (whatever its content): such files are saved, never opened."""
    return extension_of(name) in RUNNABLE_EXTENSIONS


def normalize_mime(mime: str | None) -> str:
    return (mime or "application/octet-stream").split(";", 1)[0].strip().lower()


def category_of(mime: str | None) -> AttachmentCategory:
    """The category a dispatcher sees: image, document, video, audio, archive or other."""
    m = normalize_mime(mime)
    if m in _TYPES:
        return _TYPES[m][0]
    if m in _EXECUTABLES:
        return AttachmentCategory.OTHER
    top = m.split("/", 1)[0]
    if top == "image":
        return AttachmentCategory.IMAGE
    if top == "video":
        return AttachmentCategory.VIDEO
    if top == "audio":
        return AttachmentCategory.AUDIO
    if top == "text":
        return AttachmentCategory.DOCUMENT
    return AttachmentCategory.OTHER


def expected_extensions(mime: str | None) -> tuple[str, ...]:
    """Extensions a file of this type normally has (lower case, no dot); () if unknown."""
    m = normalize_mime(mime)
    if m in _TYPES:
        return _TYPES[m][1]
    return tuple(e for e in _EXECUTABLES.get(m, ()) if e)


def is_executable(mime: str | None) -> bool:
    """Programs and scripts: content that runs when opened."""
    return normalize_mime(mime) in _EXECUTABLES


def extension_of(name: str) -> str:
    """The last extension of a file name, lower case, without the dot ('' if none)."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf"))
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem.strip(". ") or not ext or len(ext) > 16 or not ext.strip():
        return ""
    return ext.strip().lower()


_KNOWN_EXTENSIONS = frozenset(ext for _, exts in _TYPES.values() for ext in exts) | EXECUTABLE_EXTENSIONS


def extension_mismatch(name: str, mime: str | None) -> bool:
    """True when the name's extension claims a different type than the content.

    A name without an extension, or with one we do not know, claims nothing and is not
    flagged. Unknown content (``application/octet-stream``) with a known extension is not
    flagged either: we cannot say the name is wrong.
    """
    ext = extension_of(name)
    if not ext or ext not in _KNOWN_EXTENSIONS:
        return False
    m = normalize_mime(mime)
    if m in ("application/octet-stream", ""):
        return False
    expected = expected_extensions(m)
    if not expected:
        return False
    return ext not in expected


def refusal_reason(name: str, mime: str | None, *, allow_executables: bool = False) -> str | None:
    """Why this upload is refused, or None. Programs and scripts are refused by default,
    and so is any name the desktop would run when opened (``.hta``, ``.js``, ``.lnk``…,
    whatever the content); a program or script whose name claims another type (a
    document, an image...) is refused always."""
    m = normalize_mime(mime)
    if m not in _EXECUTABLES:
        if is_runnable_name(name) and not allow_executables:
            return (f"'{display_name(name)}' has a name ending in .{extension_of(name)}, which the computer runs "
                    "when it is opened; such files are not accepted as attachments. Put it in an archive (zip) "
                    "if it really must be attached.")
        return None
    ext = extension_of(name)
    honest = ext in _EXECUTABLES[m] or ext in EXECUTABLE_EXTENSIONS or (ext == "" and "" in _EXECUTABLES[m])
    kind = "a script" if m.startswith("text/") or m in ("application/javascript", "application/x-sh",
                                                          "application/x-php", "application/x-powershell",
                                                          "application/x-shellscript") else "a program"
    if not honest:
        claimed = f" although its name ends in .{ext}" if ext else ""
        return (f"'{display_name(name)}' is {kind} ({m}){claimed}; programs and scripts disguised as "
                "other files are not accepted.")
    if not allow_executables:
        return (f"'{display_name(name)}' is {kind} ({m}); programs and scripts are not accepted as "
                "attachments. Put it in an archive (zip) if it really must be attached.")
    return None


# --- safe names -------------------------------------------------------------------------

_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "clock$", "conin$", "conout$"}
    | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
    | {"com¹", "com²", "com³", "lpt¹", "lpt²", "lpt³"}
)
_UNSAFE_CHARS = re.compile(r'[\\/:*?"<>|]')
MAX_SAFE_NAME_CHARS = 150
MAX_SAFE_NAME_BYTES = 240


def _strip_invisible(text: str) -> str:
    # Cc: control characters (NUL, newline, ESC...); Cf: format characters, which include the
    # bidi overrides/embeddings/isolates (U+202A-202E, U+2066-2069), marks (U+200E/F, U+061C)
    # and zero-width characters; Zl/Zp: line and paragraph separators.
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            continue
        out.append(" " if cat == "Zs" else ch)
    return "".join(out)


def safe_filename(name: str | None, *, fallback: str = "attachment", max_chars: int = MAX_SAFE_NAME_CHARS) -> str:
    """A name that is safe to save under on Windows, macOS and Linux, keeping the extension.

    No path separators (``../`` cannot climb), no control or invisible/bidi characters
    (``U+202E`` cannot make ``exe.pdf`` out of ``fdp.exe``), no reserved device names
    (``CON``, ``NUL``, ``COM1``…), no leading/trailing dots or spaces, bounded length.
    The original name is kept separately, exactly as given.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = _strip_invisible(text)
    text = _UNSAFE_CHARS.sub("_", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"_{2,}", "_", text)
    text = text.strip(" .")
    # '..' segments that survived as '.._' become plain underscores.
    text = re.sub(r"\.{2,}", ".", text)
    text = text.strip(" ._") or ""
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext) > 16 or " " in ext:
        stem, ext = text, ""
    stem = stem.strip(" .")
    if not stem:
        stem = fallback
    if stem.split(".", 1)[0].lower().rstrip(" ") in _WINDOWS_RESERVED:
        stem = "_" + stem
    suffix = f".{ext}" if ext else ""
    budget = max(1, max_chars - len(suffix))
    stem = stem[:budget]
    while len((stem + suffix).encode("utf-8")) > MAX_SAFE_NAME_BYTES and len(stem) > 1:
        stem = stem[:-1]
    stem = stem.rstrip(" .") or fallback
    return stem + suffix


def display_name(name: str, limit: int = 80) -> str:
    """The name for messages: invisible and control characters shown as escapes."""
    out = []
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- storing names exactly ----------------------------------------------------------------
# PostgreSQL text (and jsonb) cannot hold U+0000, but a name handed to us may contain it.
# Names are stored with a reversible escape that touches only NUL and the escape character
# itself (a private-use character no real file name uses): NUL -> ESC '0', ESC -> ESC ESC.
_NAME_ESC = "\ue000"


def encode_stored_name(name: str) -> str:
    if "\x00" not in name and _NAME_ESC not in name:
        return name
    return name.replace(_NAME_ESC, _NAME_ESC + _NAME_ESC).replace("\x00", _NAME_ESC + "0")


def decode_stored_name(stored: str) -> str:
    if _NAME_ESC not in stored:
        return stored
    out = []
    i = 0
    while i < len(stored):
        ch = stored[i]
        if ch == _NAME_ESC and i + 1 < len(stored):
            nxt = stored[i + 1]
            out.append("\x00" if nxt == "0" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
