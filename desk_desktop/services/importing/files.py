"""Reading an import file (encoding, separator, header, rows by line number), the result of
checking one (``Checked``) and writing a checked file in batches: what the three kinds share."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from desk_desktop.db import sql
from desk_desktop.db.session import UnitOfWork
from desk_desktop.services.common import ValidationFailed

BATCH = 2000
PREVIEW_ROWS = 20
TRUE = {"", "yes", "y", "true", "1", "active", "ja", "oui"}
FALSE = {"no", "n", "false", "0", "inactive", "nein", "non"}

Progress = Callable[[int, int], None]


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be read (missing, empty, wrong header, not a text encoding)."""


@dataclass(frozen=True)
class Checked:
    """What ``check_*`` found: ``problems`` empty means ``run_*`` may import the file."""

    path: Path
    kind: str  # "technicians", "absences" or "customers"
    encoding: str
    delimiter: str
    columns: tuple[str, ...]  # the header as written
    rows: int  # data rows (blank lines not counted)
    problems: tuple[str, ...]  # "line N: what is wrong", in line order
    preview: tuple[dict[str, str], ...]  # the first rows, column → text

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- reading files ---------------------------------------------------------------------------

def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when the whole file is UTF-8 (BOM or not), else ``cp1252`` when it decodes
    as Windows-1252; ``ImportFileError`` otherwise. Reads the file in chunks."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                utf8.decode(chunk)
            utf8.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    except FileNotFoundError as exc:
        raise ImportFileError(f"{path}: no such file.") from exc
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc.strerror}).") from exc
    cp1252 = codecs.getincrementaldecoder("cp1252")()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                cp1252.decode(chunk)
        return "cp1252"
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8.") from exc


def _delimiter(header: str) -> str:
    return ";" if header.count(";") > header.count(",") else ","


@dataclass(frozen=True)
class Opened:
    encoding: str
    delimiter: str
    columns: tuple[str, ...]


def open_file(path: Path, expected: tuple[str, ...]) -> Opened:
    encoding = detect_encoding(path)
    with path.open(encoding=encoding, newline="") as f:
        header = f.readline()
    if not header.strip():
        raise ImportFileError(f"{path} is empty: it needs a header row ({','.join(expected)}).")
    delimiter = _delimiter(header)
    columns = tuple(next(csv.reader([header], delimiter=delimiter)))
    names = [c.strip().lower() for c in columns]
    unknown = [c for c in names if c and c not in expected]
    missing = [c for c in expected if c not in names]
    twice = sorted({c for c in names if c and names.count(c) > 1})
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if twice:
        problems.append(f"column(s) given twice: {', '.join(twice)}")
    if problems:
        raise ImportFileError(f"{path}, line 1: {'; '.join(problems)}. The columns are: {','.join(expected)}.")
    return Opened(encoding, delimiter, columns)


def records(path: Path, opened: Opened) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(line number, row by lower-case column) for each non-blank data row, or (line, problem)."""
    names = [c.strip().lower() for c in opened.columns]
    with path.open(encoding=opened.encoding, newline="") as f:
        reader = csv.reader(f, delimiter=opened.delimiter)
        next(reader)
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, f"not readable as CSV ({exc})"
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                yield line, (f"{len(values)} fields where the header has {len(names)}"
                             + (" (a value with the separator in it needs quotes)" if len(values) > len(names) else ""))
                continue
            yield line, {n: v.strip() for n, v in zip(names, values, strict=True)}


def number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        return float(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    except ValueError:
        raise ValueError(f"{what} '{text}' is not a number") from None


def point(lat: str, lon: str, what: str) -> tuple[float, float] | None:
    a, b = number(lat, f"{what} latitude"), number(lon, f"{what} longitude")
    if (a is None) != (b is None):
        raise ValueError(f"give both {what} latitude and longitude, or neither")
    return None if a is None else (a, b)


def read_catalog(uow: UnitOfWork, table: str, org: int) -> tuple[dict[str, bool], dict[str, str]]:
    """(key → active, lower-case key or name → key) of one catalog."""
    found = sql.rows(uow, f"SELECT key, name, active FROM {table} WHERE organization_id = :org", {"org": org})
    names = {r.name.lower(): r.key for r in found} | {r.key: r.key for r in found}
    return {r.key: r.active for r in found}, names


@dataclass
class Reading:
    """A file being checked: ``rows()`` gives each readable row with its line number, while
    the rows are counted, the first kept for the preview and the unreadable ones reported;
    the kind's own check adds its ``problems`` by line; ``result`` is the ``Checked``."""

    path: Path
    opened: Opened
    count: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    preview: list[dict[str, str]] = field(default_factory=list)

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        for line, row in records(self.path, self.opened):
            self.count += 1
            if isinstance(row, str):
                self.problems.append((line, row))
                continue
            if len(self.preview) < PREVIEW_ROWS:
                self.preview.append(row)
            yield line, row

    def result(self, kind: str) -> Checked:
        """The problems by line, in line order (a file without rows is one)."""
        if not self.count:
            self.problems.append((1, f"the file has a header but no {kind}"))
        self.problems.sort(key=lambda p: p[0])
        return Checked(self.path, kind, self.opened.encoding, self.opened.delimiter, self.opened.columns, self.count,
                       tuple(f"line {ln}: {m}" for ln, m in self.problems), tuple(self.preview))


def analyze(uow: UnitOfWork, table: str) -> None:
    """Refresh the planner's statistics of ``table`` after the first batch of a big import.

    The same-organization trigger on the child rows (migration 0002) looks its parent up by
    id and organization; with statistics from before the import the planner may walk every
    row of the organization instead of the primary key, which makes a large import
    quadratic (measured: 1.3 s for the 5th batch of 2,000 sites, growing with every batch).
    ANALYZE sees this transaction's own rows. A dispatcher who does not own the table gets
    a warning from the server and the import goes on with the old statistics."""
    sql.execute(uow, f"ANALYZE {table}")


def write_rows(uow: UnitOfWork, insert: Callable[[UnitOfWork, int, list[dict], bool], None], org: int,
           rows: Iterable[dict], total: int, progress: Progress | None) -> int:
    """Insert ``rows`` through ``insert`` in batches of ``BATCH`` (it is told which batch is
    the first), reporting progress after each; returns how many rows were written."""
    done, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            done = _flush(uow, insert, org, batch, done, total, progress)
    return _flush(uow, insert, org, batch, done, total, progress)


def _flush(uow: UnitOfWork, insert: Callable[[UnitOfWork, int, list[dict], bool], None], org: int,
           batch: list[dict], done: int, total: int, progress: Progress | None) -> int:
    if batch:
        insert(uow, org, batch, done == 0)
        done += len(batch)
        batch.clear()
        if progress is not None:
            progress(done, total)
    return done


def require_ok(checked: Checked, kind: str) -> None:
    if checked.kind != kind:
        raise ValueError(f"a {checked.kind} file checked, not {kind}")
    if not checked.ok:
        raise ValidationFailed(f"{checked.path} has {len(checked.problems)} problem(s); nothing was imported.")


def coordinate(value: float | None) -> str:
    return "" if value is None else f"{value:.7f}".rstrip("0").rstrip(".")


