"""The card: a white, rounded panel with an optional title and hint; styled by ``QFrame#Card`` in app.qss."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


class Card(QFrame):
    """``card.body`` is the card's vertical layout; the title (``CardTitle``) and the hint
    (``CardHint``, wrapped) come first when given."""

    def __init__(self, title: str = "", hint: str = "", *, margins: tuple[int, int, int, int] = (14, 12, 14, 14),
                 spacing: int = 8, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(*margins)
        self.body.setSpacing(spacing)
        self.title_label: QLabel | None = None
        if title:
            self.title_label = QLabel(title, objectName="CardTitle")
            self.body.addWidget(self.title_label)
        if hint:
            hint_label = QLabel(hint, objectName="CardHint")
            hint_label.setWordWrap(True)
            self.body.addWidget(hint_label)
