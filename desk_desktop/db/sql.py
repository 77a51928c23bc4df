"""The one way services run SQL: text with ``:name`` placeholders, in the unit of work's transaction.

Every service reads and writes through these functions (or through the ORM session for
whole objects); none touches the driver connection. The statement is the SQL text
itself, so a reader finds it where it is used; SQLAlchemy caches the parsed form per
text. psycopg prepares a statement on the server once it has run a few times on a
connection (``prepare_threshold``), so the hot statements are prepared without asking.

Rows come back as SQLAlchemy ``Row`` objects (named tuples). A constraint that the
database enforces (a unique key, an exclusion constraint, a foreign key) is turned into
the caller's own exception by naming it in ``violations``::

    sql.execute(uow, "INSERT INTO …", params,
                violations={"uq_work_orders_source_ticket": lambda: TicketHasWorkOrder(…)})
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import TextClause, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import CursorResult, Row
from sqlalchemy.exc import DBAPIError

from desk_desktop.db.session import UnitOfWork

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Violations = Mapping[str, Callable[[], Exception]] | None


@cache
def statement(sql: str) -> TextClause:
    """The parsed form of ``sql`` (one per distinct text)."""
    return text(sql)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (e.g. ``23505``), or None."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


def constraint_name(exc: BaseException) -> str | None:
    """The constraint a database error names (unique, exclusion, foreign key, check), or None."""
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    return getattr(diag, "constraint_name", None) if diag is not None else None


@contextmanager
def translated(violations: Violations) -> Iterator[None]:
    """Turn a violation of a named constraint into the caller's exception (the original
    error is its cause); anything else propagates unchanged."""
    try:
        yield
    except DBAPIError as exc:
        make = (violations or {}).get(constraint_name(exc) or "")
        if make is None:
            raise
        raise make() from exc


def execute(uow: UnitOfWork, sql: str, params: Params = None, *, violations: Violations = None) -> CursorResult:
    """Run one statement. A list of parameter mappings runs it once per mapping (psycopg
    sends them in one pipeline)."""
    with translated(violations):
        # On the session's connection, past the ORM's statement handling (a text statement
        # has no ORM entities; about 0.1 ms less per statement).
        return uow.session.connection().execute(statement(sql), params)


def rows(uow: UnitOfWork, sql: str, params: Params = None) -> list[Row]:
    """All rows (fetched from the driver at once)."""
    return execute(uow, sql, params).all()


_DRIVER_DIALECT = psycopg_dialect()  # every engine is postgresql+psycopg (db.session)


@cache
def _driver_text(sql: str) -> str:
    """``sql`` in the driver's placeholder style (``%(name)s``), as SQLAlchemy's compiler writes it."""
    return str(statement(sql).compile(dialect=_DRIVER_DIALECT))


def hot_rows(uow: UnitOfWork, sql: str, params: Mapping[str, Any]) -> list[tuple]:
    """``rows`` for the few statements on the product's hot paths (the candidate queries,
    the map's arrays and rows): prepared on the server at their first use on a connection
    and read as plain named tuples, without SQLAlchemy's per-statement and per-row work
    (about 0.2 ms per statement, and half the time of reading 10,000 rows)."""
    connection = uow.session.connection()
    with connection.connection.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(_driver_text(sql), params, prepare=True)
        return cursor.fetchall()


def one(uow: UnitOfWork, sql: str, params: Params = None, *, violations: Violations = None) -> Row:
    """The statement's only row (``NoResultFound`` / ``MultipleResultsFound`` otherwise)."""
    return execute(uow, sql, params, violations=violations).one()


def one_or_none(uow: UnitOfWork, sql: str, params: Params = None, *, violations: Violations = None) -> Row | None:
    return execute(uow, sql, params, violations=violations).one_or_none()


def scalar(uow: UnitOfWork, sql: str, params: Params = None, *, violations: Violations = None) -> Any:
    """The first column of the first row, or None when there is no row."""
    return execute(uow, sql, params, violations=violations).scalar()


def scalars(uow: UnitOfWork, sql: str, params: Params = None) -> list[Any]:
    """The first column of every row."""
    return execute(uow, sql, params).scalars().all()


def stream(uow: UnitOfWork, sql: str, params: Params = None, *, batch: int = 64) -> Iterator[Row]:
    """Rows read from a server-side cursor, ``batch`` at a time (for results too big to hold,
    such as the chunks of a large file)."""
    result = uow.session.execute(statement(sql), params, execution_options={"stream_results": True,
                                                                          "yield_per": batch})
    try:
        yield from result
    finally:
        result.close()


def encrypt_password(uow: UnitOfWork, login: str, password: str) -> str:
    """The password verifier the server would store (SCRAM under ``password_encryption``),
    computed by libpq on this connection: the plain text never travels in a statement."""
    driver = uow.session.connection().connection.driver_connection
    return driver.pgconn.encrypt_password(password.encode(), login.encode(), None).decode()
