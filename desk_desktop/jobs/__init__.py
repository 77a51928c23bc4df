"""Scheduler setup and job functions (they call services only)."""
