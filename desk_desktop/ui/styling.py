"""Changing a widget's look at run time: app.qss selects on a dynamic property, set here.

    set_role(label, "error-banner")   # QLabel[role="error-banner"] in resources/styles/app.qss

Qt does not re-read style sheets when a property changes; ``set_role`` re-polishes.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


def set_role(widget: QWidget, role: str, name: str = "role") -> None:
    """Set the property ``name`` (default ``role``) to ``role`` and restyle the widget."""
    if widget.property(name) == role:
        return
    widget.setProperty(name, role)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
