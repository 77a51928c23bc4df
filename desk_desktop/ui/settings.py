"""Edit → Preferences: what a dispatcher or administrator may change, saved to ``desk.toml``.

Each field shows the value in effect. A setting that an environment variable overrides is
shown read-only with the variable's name (the environment wins, see config.py). Saving
validates every value first (config.save_preferences); a bad one is named in one line
under the fields and nothing is written. The log level applies at once; the map and
assignment settings apply to the next action; the scanner and email settings at the next start.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desk_desktop.config import LOG_LEVELS, PREFERENCE_KEYS, Settings, SettingsError, read_config_file, save_preferences
from desk_desktop.logfile import set_level

# key, label, kind, (minimum, maximum, decimals, suffix) for numbers
FIELDS = (
    ("clamd", "Virus scanner (clamd) address", "text", None),
    ("clamd_timeout", "Scanner timeout", "number", (1, 3600, 0, " s")),
    ("smtp_url", "Email server (SMTP URL)", "text", None),
    ("smtp_from", "Email sender address", "text", None),
    ("tile_url", "Map tiles URL", "text", None),
    ("tile_attribution", "Map tiles attribution", "text", None),
    ("offline_map", "Offline map (.pmtiles)", "file", None),
    ("assign_radius_km", "Assignment radius", "number", (0.1, 20000, 1, " km")),
    ("max_attachment_mb", "Upload limit (new organizations)", "number", (0.1, 100000, 1, " MB")),
    ("travel_speed_kmh", "Average travel speed", "number", (1, 300, 0, " km/h")),
    ("road_factor", "Road distance / straight line", "number", (1, 3, 2, " ×")),
    ("optimize_seconds", "Time to optimize a day", "number", (1, 600, 0, " s")),
    ("log_level", "Log level", "choice", None),
)


def current_values(settings: Settings) -> dict[str, object]:
    """The value in effect for each preference key."""
    return {
        "clamd": settings.clamd_address,
        "clamd_timeout": settings.clamd_timeout,
        "smtp_url": read_config_file(settings.config_file).get("smtp_url", os.environ.get("DESK_SMTP_URL", "")),
        "smtp_from": settings.smtp.from_address,
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
        "offline_map": str(settings.offline_map or ""),
        "assign_radius_km": settings.assign_radius_km,
        "max_attachment_mb": settings.max_attachment_bytes / (1024 * 1024),
        "travel_speed_kmh": settings.travel_speed_kmh,
        "road_factor": settings.road_factor,
        "optimize_seconds": settings.optimize_seconds,
        "log_level": settings.log_level,
    }


class PreferencesDialog(QDialog):
    saved = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(620)
        self.settings = settings
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout()
        values = current_values(settings)
        for key, label, kind, spec in FIELDS:
            editor, row = self._editor(kind, spec, values[key])
            var = PREFERENCE_KEYS[key]
            if os.environ.get(var):
                editor.setEnabled(False)
                editor.setToolTip(f"Set by the environment variable {var}, which overrides desk.toml.")
            self.editors[key] = editor
            form.addRow(label, row)
        note = QLabel(f"Saved in {settings.config_file}. Environment variables (DESK_…) override these.\n"
                      "Scanner and email changes apply at the next start.")
        note.setWordWrap(True)
        note.setProperty("role", "muted")
        self.error = QLabel("")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _editor(self, kind: str, spec, value) -> tuple[QWidget, QWidget]:
        if kind == "number":
            low, high, decimals, suffix = spec
            box = QDoubleSpinBox()
            box.setRange(low, high)
            box.setDecimals(decimals)
            box.setSuffix(suffix)
            box.setValue(float(value))
            return box, box
        if kind == "choice":
            combo = QComboBox()
            combo.addItems(LOG_LEVELS)
            combo.setCurrentText(str(value))
            return combo, combo
        line = QLineEdit(str(value))
        if kind != "file":
            return line, line
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        browse = QPushButton("Choose…")
        browse.clicked.connect(lambda: self._choose_file(line))
        lay.addWidget(line, 1)
        lay.addWidget(browse)
        return line, row

    def _choose_file(self, line: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Offline map", line.text(), "PMTiles (*.pmtiles)")
        if path:
            line.setText(path)

    def values(self) -> dict[str, object]:
        """The editable fields' values (fields an environment variable overrides are left out)."""
        out: dict[str, object] = {}
        for key, editor in self.editors.items():
            if not editor.isEnabled():
                continue
            if isinstance(editor, QDoubleSpinBox):
                out[key] = editor.value()
            elif isinstance(editor, QComboBox):
                out[key] = editor.currentText()
            else:
                out[key] = editor.text().strip()
        return out

    def save(self) -> None:
        values = self.values()
        try:
            save_preferences(self.settings.config_dir, values)
        except SettingsError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        if "log_level" in values:
            set_level(str(values["log_level"]))
        self.saved.emit()
        self.accept()
