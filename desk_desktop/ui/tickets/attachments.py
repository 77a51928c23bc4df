"""Attachments of one ticket: a drop zone for files from the file manager, one row per
file with progress and cancel while uploading, then thumbnail/icon, size, type, scan
status, extension-mismatch flag, public/private toggle, Open and Save as… (tracked).

Uploads run on the worker pool through ``ctx.runner``; the service's progress callback
is called on that worker thread and is marshalled to the GUI thread by a Qt signal
(queued connection). Cancelling sets a flag the service polls between chunks.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.domain.filetypes import display_name, is_executable, is_runnable_name
from desk_desktop.ui.styling import restyle
from desk_desktop.ui.tickets.style import SCAN_BADGES, category_pixmap, chip_style, format_when, human_size

log = logging.getLogger(__name__)

THUMB = 44
PENDING_POLL_MS = 3000
ATTACHMENT_ENTITIES = {"attachment"}


# ------------------------------------------------------------------ work functions (pool)
def _scanner(settings):
    from desk_desktop.services import scanning

    try:
        return scanning.scanner_from_settings(settings)
    except Exception as exc:  # noqa: BLE001 - no scanner configured: the file stays "pending"
        log.warning("no virus scanner: %s", exc)
        return None


def upload_file(uow_factory, actor, scanner, ticket_id: int, path: str, progress, cancel):
    from desk_desktop.services import attachments
    from desk_desktop.services.common import DeskError

    if os.path.isdir(path):
        raise DeskError(f"'{Path(path).name}' is a folder; drop the files inside it instead.")

    return attachments.add_attachment(
        uow_factory=uow_factory, actor=actor, ticket_id=ticket_id, source=path,
        scanner=scanner, progress=progress, cancel=cancel,
    )


def load_attachments(uow_factory, actor, ticket_id: int):
    """The ticket's attachments and their thumbnails (decoded off the GUI thread)."""
    from desk_desktop.services import attachments

    infos = attachments.list_attachments(uow=uow_factory(), actor=actor, ticket_id=ticket_id)
    thumbs = {}
    for info in infos:
        if info.has_thumbnail and not info.quarantined:
            data = attachments.get_thumbnail(uow=uow_factory(), actor=actor, attachment_id=info.id)
            if data:
                image = QImage.fromData(data)
                if not image.isNull():
                    thumbs[info.id] = image
    return infos, thumbs


def download_file(uow_factory, actor, attachment_id: int, dest: str, admin_override: bool = False,
                  reason: str | None = None, replace: bool = False):
    from desk_desktop.services import attachments

    return attachments.download_attachment(uow_factory=uow_factory, actor=actor, attachment_id=attachment_id,
                                           dest=dest, admin_override=admin_override, reason=reason,
                                           replace=replace)


def download_for_opening(uow_factory, actor, attachment_id: int, safe_name: str) -> str:
    """A private temporary copy to hand to the default application (a tracked download);
    its folder is removed when the panel shuts down, or now if the download fails."""
    folder = Path(tempfile.mkdtemp(prefix="desk-open-"))
    dest = folder / safe_name
    try:
        download_file(uow_factory, actor, attachment_id, str(dest))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return str(dest)


def can_open(info) -> bool:
    """Only a clean file whose name and content the desktop would not run is opened;
    everything else can at most be saved."""
    return bool(info.is_clean and not is_runnable_name(info.original_name) and not is_executable(info.mime_type))


def set_visibility(uow_factory, actor, attachment_id: int, is_public: bool):
    from desk_desktop.services import attachments

    return attachments.set_attachment_visibility(uow=uow_factory(), actor=actor, attachment_id=attachment_id,
                                                 is_public=is_public)


# ------------------------------------------------------------------ progress relay
class UploadRelay(QObject):
    """Lives in the GUI thread; emitted from the worker, delivered queued on the GUI thread."""

    progressed = Signal(object, object)  # done_bytes, total_bytes | None


# ------------------------------------------------------------------ one row
class FileRow(QFrame):
    """One file: uploading (progress + cancel), failed (message), or stored (details)."""

    cancel_requested = Signal()
    dismissed = Signal()
    open_requested = Signal(int)
    save_requested = Signal(int)
    visibility_toggled = Signal(int, bool)

    def __init__(self, name: str, parent: QWidget | None = None, *, admin: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("FileRow")
        self.admin = admin
        self.name = name
        self.state = "uploading"
        self.info = None
        self.ticket_id: int | None = None
        self.cancel_event = threading.Event()

        self.icon = QLabel()
        self.icon.setFixedSize(THUMB, THUMB)
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.icon.setPixmap(category_pixmap("other", THUMB))
        self.name_label = QLabel(display_name(name))
        self.name_label.setTextFormat(Qt.TextFormat.PlainText)
        self.name_label.setObjectName("FileName")
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.scan_badge = QLabel("")
        self.mismatch_badge = QLabel("Extension mismatch")
        self.mismatch_badge.setObjectName("MismatchChip")
        self.mismatch_badge.setVisible(False)
        self.meta_label = QLabel("")
        self.meta_label.setObjectName("FileMeta")
        self.meta_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setVisible(False)
        self.public_check = QCheckBox("Public")
        self.public_check.setToolTip("Public files can be shared with the customer; private files stay internal.")
        self.open_button = QPushButton("Open")
        self.save_button = QPushButton("Save as…")

        first = QHBoxLayout()
        first.setSpacing(6)
        first.addWidget(self.name_label, 1)
        first.addWidget(self.mismatch_badge)
        first.addWidget(self.scan_badge)
        self.progress_line = QHBoxLayout()
        self.progress_line.addWidget(self.progress, 1)
        self.progress_line.addWidget(self.cancel_button)
        self.actions_line = QHBoxLayout()
        self.actions_line.setSpacing(6)
        self.actions_line.addWidget(self.public_check)
        self.actions_line.addStretch(1)
        self.actions_line.addWidget(self.dismiss_button)
        self.actions_line.addWidget(self.open_button)
        self.actions_line.addWidget(self.save_button)

        grid = QGridLayout(self)
        grid.setContentsMargins(8, 8, 8, 8)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        grid.addWidget(self.icon, 0, 0, 3, 1, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(first, 0, 1)
        grid.addWidget(self.meta_label, 1, 1)
        grid.addLayout(self.progress_line, 2, 1)
        grid.addLayout(self.actions_line, 3, 1)
        grid.setColumnStretch(1, 1)

        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.dismiss_button.clicked.connect(self.dismissed)
        self.open_button.clicked.connect(lambda: self.info and self.open_requested.emit(self.info.id))
        self.save_button.clicked.connect(lambda: self.info and self.save_requested.emit(self.info.id))
        self.public_check.toggled.connect(self._on_public_toggled)
        self._set_actions_visible(False)
        self.meta_label.setText("Waiting to upload…")

    # ---------------------------------------------------------------- states
    def _set_actions_visible(self, visible: bool) -> None:
        for w in (self.public_check, self.open_button, self.save_button):
            w.setVisible(visible)

    def set_progress(self, done: int, total: int | None) -> None:
        if self.state != "uploading":
            return
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
            if done >= total:
                self.meta_label.setText(f"{human_size(total)} uploaded · checking for viruses…")
                self.cancel_button.setEnabled(False)
            else:
                self.meta_label.setText(f"Uploading {human_size(done)} of {human_size(total)}")
        else:
            self.meta_label.setText(f"Uploading {human_size(done)}")

    def set_failed(self, message: str, *, cancelled: bool = False) -> None:
        self.state = "cancelled" if cancelled else "failed"
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._set_actions_visible(False)
        self.dismiss_button.setVisible(True)
        self.scan_badge.setText("Cancelled" if cancelled else "Not attached")
        self.scan_badge.setStyleSheet(chip_style("#5f6368", "#f1f3f4") if cancelled
                                      else chip_style("#b42318", "#fdecea"))
        self.meta_label.setText(message)
        restyle(self.meta_label, tone="muted" if cancelled else "error")
        restyle(self, failed=not cancelled)

    def set_info(self, info, thumbnail: QImage | None = None) -> None:
        self.state = "stored"
        self.info = info
        self.name = info.original_name
        self.name_label.setText(display_name(info.original_name))
        self.name_label.setToolTip(display_name(info.original_name, limit=400))
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.dismiss_button.setVisible(False)
        self._set_actions_visible(True)
        if thumbnail is not None and not thumbnail.isNull():
            pix = QPixmap.fromImage(thumbnail).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                      Qt.TransformationMode.SmoothTransformation)
            self.icon.setPixmap(pix)
            self.icon.setToolTip("Thumbnail")
        else:
            self.icon.setPixmap(category_pixmap(info.category, THUMB))
            self.icon.setToolTip(info.category.capitalize())
        status = info.scan_status
        label, fg, bg, tip = SCAN_BADGES.get(status, (status, "#333", "#eee", ""))
        if status == "infected":
            label = "Infected"
            tip = f"Quarantined — {info.scan_signature or 'a threat'} was found. The file cannot be opened."
        elif status == "not_scanned" and info.scan_reason:
            tip = f"Not scanned: {info.scan_reason}"
        elif status == "pending" and info.scan_reason:
            tip = f"Scan pending: {info.scan_reason}"
        self.scan_badge.setText(label)
        self.scan_badge.setToolTip(tip)
        self.scan_badge.setStyleSheet(chip_style(fg, bg))
        self.mismatch_badge.setVisible(bool(info.extension_mismatch))
        self.mismatch_badge.setToolTip(
            f"The name says one type but the content is {info.mime_type}." if info.extension_mismatch else "")
        parts = [info.category.capitalize(), human_size(info.size), info.mime_type]
        meta = " · ".join(parts)
        if status == "infected":
            meta += f"\nQuarantined: infected with {info.scan_signature or 'unknown'}"
        else:
            who = f"Added by {info.uploaded_by}, {format_when(info.uploaded_at)}"
            if info.download_count:
                who += f" · downloaded {info.download_count}×"
            meta += "\n" + who
        self.meta_label.setText(meta)
        restyle(self.meta_label, tone="error" if status == "infected" else "muted")
        self.public_check.blockSignals(True)
        self.public_check.setChecked(bool(info.is_public))
        self.public_check.blockSignals(False)
        blocked = not info.is_clean
        self.public_check.setEnabled(not info.quarantined)
        self.open_button.setEnabled(can_open(info))
        self.save_button.setEnabled(not blocked or self.admin)
        self.save_button.setText("Admin copy…" if blocked and self.admin else "Save as…")
        what = "Quarantined files" if info.quarantined else "Files not scanned clean"
        if blocked:
            self.open_button.setToolTip(f"{what} cannot be opened")
            self.save_button.setToolTip(
                "Administrators can save a copy for analysis, with a reason (recorded in the audit log)"
                if self.admin else f"{what} cannot be saved")
        elif not can_open(info):
            self.open_button.setToolTip("Files the computer would run (programs, scripts, shortcuts, disk "
                                        "images) are never opened from here; save a copy instead")
            self.save_button.setToolTip("Save a copy (the download is recorded)")
        else:
            self.open_button.setToolTip("Open a copy with the default application")
            self.save_button.setToolTip("Save a copy (the download is recorded)")
        restyle(self, failed=False)

    def _on_cancel_clicked(self) -> None:
        self.cancel_event.set()
        self.cancel_button.setEnabled(False)
        self.meta_label.setText("Cancelling…")
        self.cancel_requested.emit()

    def _on_public_toggled(self, checked: bool) -> None:
        if self.info is not None:
            self.visibility_toggled.emit(self.info.id, checked)


# ------------------------------------------------------------------ drop zone
class DropZone(QFrame):

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DropZone")
        self.setAcceptDrops(True)
        self.label = QLabel("Drop files here to attach them")
        self.label.setObjectName("Muted")
        self.pick_button = QPushButton("Add files…")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.pick_button)

    def set_active(self, active: bool) -> None:
        restyle(self, active=active)
        self.label.setText("Release to attach" if active else "Drop files here to attach them")


def _local_files(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


# ------------------------------------------------------------------ the panel
class AttachmentsPanel(QWidget):
    count_changed = Signal(int)
    upload_finished = Signal(str, bool)  # file name, stored?
    list_loaded = Signal()
    message_shown = Signal(str)

    def __init__(self, ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAcceptDrops(True)
        self._ticket_id: int | None = None
        self._stored: dict[int, FileRow] = {}
        self._uploads: list[FileRow] = []
        self._shut = False  # the window is closing: start nothing new
        self._open_copies: list[Path] = []  # temporary folders of opened copies, removed at shutdown
        self._scanner = None

        self.drop_zone = DropZone()
        self.message = QLabel("")
        self.message.setObjectName("FieldError")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.empty_label = QLabel("No files yet.")
        self.empty_label.setObjectName("Muted")
        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(6)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(self.drop_zone)
        lay.addWidget(self.message)
        lay.addLayout(self.rows_box)
        lay.addWidget(self.empty_label)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(300)
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(PENDING_POLL_MS)

        self.drop_zone.pick_button.clicked.connect(self.pick_files)
        self._reload_timer.timeout.connect(self.reload)
        self._poll_timer.timeout.connect(self.reload)
        ctx.live.changed.connect(self._on_live_changed)

    # ---------------------------------------------------------------- public
    @property
    def ticket_id(self) -> int | None:
        return self._ticket_id

    def rows(self) -> list[FileRow]:
        """Visible rows, uploads first, then stored files."""
        return [r for r in self._uploads if r.ticket_id == self._ticket_id] + list(self._stored.values())

    def set_ticket(self, ticket_id: int | None) -> None:
        if ticket_id != self._ticket_id:
            self._ticket_id = ticket_id
            for row in list(self._stored.values()):
                self._remove_row(row)
            self._stored.clear()
            for row in self._uploads:
                row.setVisible(row.ticket_id == ticket_id)
            self.message.setVisible(False)
        self.setEnabled(ticket_id is not None)
        self.reload()

    def reload(self) -> None:
        ticket_id = self._ticket_id
        if ticket_id is None or self._shut:
            self.ctx.runner.drop(self, key="list")  # no list of another ticket arrives now
            return

        def done(result) -> None:
            infos, thumbs = result
            self._apply_list(infos, thumbs)

        def failed(exc: BaseException) -> None:
            self._show_message(f"Could not load the attachments: {exc}")

        self.ctx.runner.submit(load_attachments, self.ctx.uow_factory, self.ctx.actor, ticket_id,
                               owner=self, key="list", on_done=done, on_error=failed)

    def pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach files")
        if paths:
            self.upload_paths(paths)

    def upload_paths(self, paths: list[str]) -> None:
        if self._ticket_id is None:
            return
        self.message.setVisible(False)
        for path in paths:
            self._start_upload(path)

    def shutdown(self) -> None:
        self._shut = True
        self.ctx.runner.drop(self)
        self._poll_timer.stop()
        for row in self._uploads:
            row.cancel_event.set()
        for folder in self._open_copies:
            shutil.rmtree(folder, ignore_errors=True)
        self._open_copies.clear()

    # ---------------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._ticket_id is not None and _local_files(event.mimeData()):
            event.acceptProposedAction()
            self.drop_zone.set_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if self._ticket_id is not None and _local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.drop_zone.set_active(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.drop_zone.set_active(False)
        paths = _local_files(event.mimeData())
        if not paths or self._ticket_id is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.upload_paths(paths)

    # ---------------------------------------------------------------- uploads
    def _start_upload(self, path: str) -> None:
        ticket_id = self._ticket_id
        row = FileRow(Path(path).name, admin=bool(self.ctx.actor.is_admin))
        row.ticket_id = ticket_id
        self._connect_row(row)
        self._uploads.append(row)
        self.rows_box.insertWidget(0, row)
        self._update_empty()
        relay = UploadRelay(row)
        relay.progressed.connect(row.set_progress)
        event = row.cancel_event

        def progress(done: int, total: int | None) -> None:  # worker thread
            relay.progressed.emit(done, total)

        def cancel() -> bool:  # worker thread
            return event.is_set()

        def done(info) -> None:
            if row in self._uploads:
                self._uploads.remove(row)
            self.upload_finished.emit(row.name, True)
            if ticket_id != self._ticket_id:
                row.deleteLater()
                return
            existing = self._stored.get(info.id)
            if existing is not None:  # same file twice: one attachment row
                self._remove_row(row)
                existing.set_info(info)
            else:
                row.set_info(info)
                self._stored = {info.id: row, **self._stored}
            self.count_changed.emit(len(self._stored))  # the heading counts it at once
            self.reload()  # thumbnail, and the same order as the list

        def failed(exc: BaseException) -> None:
            from desk_desktop.services.attachments import UploadCancelled

            cancelled = isinstance(exc, UploadCancelled)
            message = str(exc) or exc.__class__.__name__
            if cancelled:
                message = "Upload cancelled — nothing was attached."
            row.set_failed(message, cancelled=cancelled)
            row.dismissed.connect(lambda: self._dismiss(row))
            self.upload_finished.emit(row.name, False)

        if self._scanner is None:  # one per panel: it checks clamd's archive alerts once (canaries)
            self._scanner = _scanner(self.ctx.settings)
        self.ctx.runner.submit(upload_file, self.ctx.uow_factory, self.ctx.actor, self._scanner, ticket_id,
                               path, progress, cancel, owner=self, on_done=done, on_error=failed)

    def _connect_row(self, row: FileRow) -> None:
        row.open_requested.connect(self.open_attachment)
        row.save_requested.connect(self.save_attachment_as)
        row.visibility_toggled.connect(self._on_row_visibility_toggled)

    def _dismiss(self, row: FileRow) -> None:
        if row in self._uploads:
            self._uploads.remove(row)
        self._remove_row(row)
        self._update_empty()

    def _remove_row(self, row: FileRow) -> None:
        self.rows_box.removeWidget(row)
        row.setParent(None)
        row.deleteLater()

    # ---------------------------------------------------------------- listing
    def _apply_list(self, infos, thumbs) -> None:
        seen = set()
        ordered: dict[int, FileRow] = {}
        for info in infos:
            seen.add(info.id)
            row = self._stored.get(info.id)
            if row is None:
                row = FileRow(info.original_name, admin=bool(self.ctx.actor.is_admin))
                row.ticket_id = info.ticket_id
                self._connect_row(row)
            row.set_info(info, thumbs.get(info.id))
            ordered[info.id] = row
        for aid, row in list(self._stored.items()):
            if aid not in seen:
                self._remove_row(row)
        # lay out: uploads first (already at the top), then stored files in service order
        for row in ordered.values():
            self.rows_box.removeWidget(row)
        for row in ordered.values():
            self.rows_box.addWidget(row)
            row.setVisible(True)
        self._stored = ordered
        self._update_empty()
        self.count_changed.emit(len(ordered))
        pending = any(i.scan_status == "pending" for i in infos)
        if pending and not self._poll_timer.isActive():
            self._poll_timer.start()
        elif not pending:
            self._poll_timer.stop()
        self.list_loaded.emit()

    def _update_empty(self) -> None:
        self.empty_label.setVisible(not self.rows())

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.message_shown.emit(text)

    def _on_live_changed(self, entity: str, entity_id, action: str) -> None:
        if self._ticket_id is None:
            return
        if entity in ATTACHMENT_ENTITIES or (entity == "ticket" and entity_id == self._ticket_id):
            self._reload_timer.start()

    # ---------------------------------------------------------------- open / save / visibility
    def open_attachment(self, attachment_id: int) -> None:
        row = self._stored.get(attachment_id)
        if row is None or row.info is None:
            return
        if not can_open(row.info):
            self._show_message(f"'{display_name(row.info.original_name)}' cannot be opened from here "
                               f"({row.info.status_text if not row.info.is_clean else 'the computer would run it'}).")
            return

        def done(path: str) -> None:
            self._open_copies.append(Path(path).parent)
            self.reload()  # download count
            self.open_local_file(path)

        def failed(exc: BaseException) -> None:
            self._show_message(f"Could not open '{display_name(row.info.original_name)}': {exc}")

        self.ctx.runner.submit(download_for_opening, self.ctx.uow_factory, self.ctx.actor, attachment_id,
                               row.info.safe_name, owner=self, on_done=done, on_error=failed)

    def open_local_file(self, path: str) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def ask_save_path(self, suggested: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, "Save attachment as", suggested)
        return path

    def ask_override_reason(self, name: str) -> str:
        from PySide6.QtWidgets import QInputDialog

        reason, ok = QInputDialog.getText(
            self, "Save a quarantined file",
            f"'{display_name(name)}' is not known to be clean. Why do you need a copy? (recorded in the audit log)")
        return reason.strip() if ok else ""

    def save_attachment_as(self, attachment_id: int) -> None:
        row = self._stored.get(attachment_id)
        if row is None or row.info is None:
            return
        override = not row.info.is_clean
        reason = None
        if override:
            if not self.ctx.actor.is_admin:
                self._show_message(f"'{display_name(row.info.original_name)}' is {row.info.status_text} and "
                                   "cannot be saved.")
                return
            reason = self.ask_override_reason(row.info.original_name)
            if not reason:
                return
        dest = self.ask_save_path(str(Path.home() / row.info.safe_name))
        if not dest:
            return

        def done(_result) -> None:
            self._show_message("")
            self.reload()

        def failed(exc: BaseException) -> None:
            self._show_message(f"Could not save '{display_name(row.info.original_name)}': {exc}")

        # The save dialog has asked before replacing an existing file.
        self.ctx.runner.submit(download_file, self.ctx.uow_factory, self.ctx.actor, attachment_id, dest,
                               override, reason, True, owner=self, on_done=done, on_error=failed)

    def _on_row_visibility_toggled(self, attachment_id: int, is_public: bool) -> None:
        def done(_info) -> None:
            self.reload()

        def failed(exc: BaseException) -> None:
            self._show_message(f"Could not change who can see the file: {exc}")
            self.reload()

        self.ctx.runner.submit(set_visibility, self.ctx.uow_factory, self.ctx.actor, attachment_id, is_public,
                               owner=self, on_done=done, on_error=failed)
