"""The rule editor view."""
