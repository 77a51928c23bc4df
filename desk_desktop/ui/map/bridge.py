"""What the map's web page talks to: the ``QWebChannel`` bridge (clicks, tooltips, "drawn") and its console."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWebEngineCore import QWebEnginePage

log = logging.getLogger(__name__)


class MapBridge(QObject):
    """The object the page sees as ``channel.objects.bridge``; its slots are called from JavaScript."""

    page_ready = Signal()
    technician_clicked = Signal(int)
    work_order_clicked = Signal(int)
    map_drawn = Signal(str, float)

    def __init__(self, describer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._describer = describer  # (kind, id) -> tooltip html

    @Slot()
    def pageReady(self) -> None:  # noqa: N802 - called from JavaScript
        self.page_ready.emit()

    @Slot(int)
    def technicianClicked(self, technician_id: int) -> None:  # noqa: N802
        self.technician_clicked.emit(int(technician_id))

    @Slot(int)
    def workOrderClicked(self, work_order_id: int) -> None:  # noqa: N802
        self.work_order_clicked.emit(int(work_order_id))

    @Slot(str, float)
    def drawn(self, what: str, millis: float) -> None:
        self.map_drawn.emit(what, float(millis))

    @Slot(str, int, result=str)
    def describe(self, kind: str, item_id: int) -> str:
        """Tooltip HTML for a marker ("t" technician, "o" work order), from data already in memory."""
        return self._describer(kind, int(item_id))


class WebPage(QWebEnginePage):
    """The map's web page: its console goes to our log (debug)."""

    def javaScriptConsoleMessage(self, level, message, line, source):  # noqa: N802
        log.debug("map page: %s (%s:%s)", message, source, line)
