"""Services and jobs run SQL through ``db/sql.py`` (or the ORM session): none imports the
driver or reaches for the connection under SQLAlchemy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "desk_desktop"
SOURCES = sorted([*ROOT.joinpath("services").rglob("*.py"), *ROOT.joinpath("jobs").rglob("*.py")])


def _offences(source: str) -> list[str]:
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "psycopg"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "psycopg":
            found.append(f"line {node.lineno}: from {node.module} import …")
        elif isinstance(node, ast.Attribute) and node.attr in ("driver_connection", "dbapi_connection"):
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_service_or_job_touches_the_driver(path):
    assert _offences(path.read_text()) == []


def test_the_check_sees_a_driver_connection():
    """The check itself can fail (on code written the forbidden way)."""
    assert len(_offences("import psycopg\nfrom psycopg.rows import namedtuple_row\n"
                         "conn = session.connection().connection.driver_connection\n")) == 3
