"""Desk Dispatcher — the dispatcher workstation of a helpdesk and field-service platform."""

__version__ = "0.1.0"
APP_NAME = "Desk Dispatcher"
APP_ID = "desk-desktop"
