"""Pure business rules: no database sessions, no Qt."""
