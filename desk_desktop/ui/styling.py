"""Changing a widget's look at run time: app.qss selects on dynamic properties, set here.

    restyle(label, banner="error")   # QLabel[banner="error"] in resources/styles/app.qss

Qt does not re-read style sheets when a property changes; ``restyle`` re-polishes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QWidget


def restyle(widget: QWidget, **properties: Any) -> None:
    """Set the dynamic properties and restyle ``widget`` by them."""
    for name, value in properties.items():
        widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
