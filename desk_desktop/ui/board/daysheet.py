"""A technician's day on paper: the day's visits of one or more technicians, in order, with
addresses, contacts and notes — printed or saved as PDF with Qt's own printing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from html import escape
from pathlib import Path

from PySide6.QtGui import QPageLayout, QPageSize, QTextDocument
from PySide6.QtPrintSupport import QPrinter

from desk_desktop.services.board import BoardDay

STYLE = """
body { font-family: sans-serif; font-size: 10pt; color: #1f2933; }
h1 { font-size: 15pt; margin: 0; }
h2 { font-size: 11pt; color: #5f6b76; margin: 0 0 10px 0; font-weight: normal; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; font-size: 9pt; color: #5f6b76; border-bottom: 1px solid #90a4ae; padding: 4px; }
td { vertical-align: top; padding: 6px 4px; border-bottom: 1px solid #dde2e6; }
.time { white-space: nowrap; font-weight: bold; }
.muted { color: #5f6b76; font-size: 9pt; }
"""


def day_sheet_html(board: BoardDay, technician_ids: Iterable[int], day: date | None = None) -> str:
    """One page per technician (the ones given, in the board's order) who has visits on
    ``day`` (the board's first day unless given)."""
    wanted = set(technician_ids)
    tz = board.start.tzinfo
    day = day or board.first_day
    pages = []
    by_technician = board.rows()
    for tech in board.technicians:
        visits = [v for v in by_technician.get(tech.id, []) if v.start.astimezone(tz).date() == day]
        if tech.id not in wanted or not visits:
            continue
        first = visits[0].start.astimezone(tz)
        rows = []
        for n, v in enumerate(visits, 1):
            a, b = v.start.astimezone(tz), v.end.astimezone(tz)
            drive = (f"<br><span class='muted'>About {v.travel_minutes} min driving before</span>"
                     if v.travel_minutes else "")
            notes = escape(v.description.strip()) if v.description.strip() else "—"
            needs = f"<br><span class='muted'>Needs: {escape(', '.join(v.required_skills))}</span>" \
                if v.required_skills else ""
            rows.append(
                f"<tr><td class='time'>{n}. {a:%H:%M}–{b:%H:%M}{drive}</td>"
                f"<td><b>{escape(v.customer)}</b><br>{escape(v.address or 'no address on file')}"
                f"<br><span class='muted'>{escape(v.contact or 'no phone or e-mail on file')}</span></td>"
                f"<td><b>{escape(v.number)}</b> · ticket {escape(v.ticket_number)}<br>{escape(v.subject)}"
                f"<br><span class='muted'>{escape(v.priority)} priority · {escape(v.status.replace('_', ' '))}"
                f"</span>{needs}</td>"
                f"<td>{notes}</td></tr>")
        header = (f"<h1>{escape(tech.name)}</h1><h2>{first:%A} {first.day} {first:%B %Y} · {len(visits)} "
                  f"visit{'s' if len(visits) != 1 else ''}"
                  + (f" · {escape(tech.phone)}" if tech.phone else "") + f" · times in {escape(board.timezone)}</h2>")
        pages.append(header + "<table><tr><th>When</th><th>Where</th><th>What</th><th>Notes</th></tr>"
                     + "".join(rows) + "</table>")
    if not pages:
        pages.append(f"<h1>No visits</h1><h2>Nobody chosen has a visit on {day:%A} {day.day} {day:%B %Y}.</h2>")
    breaks = "<p style='page-break-after: always'></p>"
    return f"<html><head><style>{STYLE}</style></head><body>{breaks.join(pages)}</body></html>"


def save_day_sheet_pdf(board: BoardDay, technician_ids: Iterable[int], path: Path, day: date | None = None) -> None:
    """Write the day sheet to ``path`` as an A4 PDF."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    print_day_sheet(board, technician_ids, printer, day)


def print_day_sheet(board: BoardDay, technician_ids: Iterable[int], printer: QPrinter, day: date | None = None) -> None:
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    printer.setPageOrientation(QPageLayout.Orientation.Landscape)
    doc = QTextDocument()
    doc.setHtml(day_sheet_html(board, technician_ids, day))
    doc.print_(printer)
