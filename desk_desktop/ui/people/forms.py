"""The people forms' small parts: messages next to fields, coordinates typed as text, and
turning a service error into field → message."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QWidget

from desk_desktop.ui.styling import restyle
from desk_desktop.ui.tickets.style import field_error_label


def problems_of(exc: BaseException) -> dict[str, str]:
    """Field → message of a failed save (``PeopleInvalid.problems``, or a ``ValidationFailed``'s field)."""
    problems = getattr(exc, "problems", None)
    if problems:
        return dict(problems)
    field = getattr(exc, "field", None)
    return {field: str(exc)} if field else {}


class FieldErrors:
    """The message labels of a form, by field name; ``show(problems)`` sets them all at once."""

    def __init__(self) -> None:
        self.labels: dict[str, QLabel] = {}
        self.editors: dict[str, QWidget] = {}

    def label(self, name: str, editor: QWidget | None = None) -> QLabel:
        self.labels[name] = label = field_error_label()
        if editor is not None:
            self.editors[name] = editor
        return label

    def show(self, problems: dict[str, str]) -> dict[str, str]:
        """Show each problem next to its field; returns the problems no field of this form shows."""
        for name, label in self.labels.items():
            message = problems.get(name, "")
            label.setText(message)
            label.setVisible(bool(message))
            if name in self.editors:
                restyle(self.editors[name], invalid=bool(message))
        return {k: v for k, v in problems.items() if k not in self.labels}

    def text(self, name: str) -> str:
        label = self.labels.get(name)
        return label.text() if label is not None and label.isVisible() else ""


class CoordinateFields(QWidget):
    """Latitude and longitude typed as text (both empty = no location)."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lat_edit = QLineEdit()
        self.lat_edit.setPlaceholderText("latitude, e.g. 48.8566")
        self.lon_edit = QLineEdit()
        self.lon_edit.setPlaceholderText("longitude, e.g. 2.3522")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        for text, edit in (("Lat", self.lat_edit), ("Lon", self.lon_edit)):
            label = QLabel(text)
            label.setObjectName("Muted")
            row.addWidget(label)
            row.addWidget(edit, 1)
            edit.textEdited.connect(lambda _t: self.edited.emit())

    def set_value(self, location: tuple[float, float] | None) -> None:
        self.lat_edit.setText("" if location is None else f"{location[0]:.6f}".rstrip("0").rstrip("."))
        self.lon_edit.setText("" if location is None else f"{location[1]:.6f}".rstrip("0").rstrip("."))

    def value(self) -> tuple[float, float] | None:
        """The location typed, None when both fields are empty; ValueError says what is wrong."""
        lat_text, lon_text = self.lat_edit.text().strip(), self.lon_edit.text().strip()
        if not lat_text and not lon_text:
            return None
        if not lat_text or not lon_text:
            raise ValueError("Give both latitude and longitude, or neither.")
        try:
            lat, lon = float(lat_text.replace(",", ".")), float(lon_text.replace(",", "."))
        except ValueError:
            raise ValueError("Latitude and longitude are numbers, e.g. 48.8566 and 2.3522.") from None
        if not -90 <= lat <= 90:
            raise ValueError("Latitude is between -90 and 90.")
        if not -180 <= lon <= 180:
            raise ValueError("Longitude is between -180 and 180.")
        return lat, lon


def field_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("FieldLabel")
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label
