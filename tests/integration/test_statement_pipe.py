"""The statement pipe (real PostgreSQL): statements given to it run in order in the unit of
work's transaction while the caller goes on; every other use of the connection waits for
them; a failure surfaces as ``StatementFailed`` and nothing of the transaction is kept."""

from __future__ import annotations

import sys
import time

import pytest
from sqlalchemy import text

from desk_desktop.db.pipe import StatementFailed, StatementPipe


@pytest.fixture
def scratch(uow_factory):
    uow = uow_factory()
    with uow:
        uow.session.execute(text("CREATE TEMP TABLE pipe_log (n int, at timestamptz DEFAULT clock_timestamp())"))
        uow.commit()
    return uow_factory


def test_statements_run_in_order_while_the_caller_goes_on(scratch):
    uow = scratch()
    with uow:
        with StatementPipe(uow) as pipe:
            t0 = time.perf_counter()
            pipe.submit("SELECT pg_sleep(0.3)")
            for n in range(5):
                pipe.submit("INSERT INTO pipe_log (n) VALUES (%(n)s)", {"n": n})
            submitted = time.perf_counter() - t0
            # SQLAlchemy on the same connection waits for the pipe: it sees all five rows.
            seen = uow.session.execute(text("SELECT n FROM pipe_log ORDER BY at, n")).scalars().all()
        uow.commit()
    assert submitted < 0.15  # the caller was not held up by the 0.3 s statement
    assert seen == [0, 1, 2, 3, 4]


def test_results_come_back_through_futures(scratch):
    uow = scratch()
    with uow:
        with StatementPipe(uow) as pipe:
            rows = pipe.submit("SELECT g FROM generate_series(1, 3) g", fetch=True)
            count = pipe.submit("INSERT INTO pipe_log (n) SELECT g FROM generate_series(1, 4) g")
            assert pipe.result(rows) == [(1,), (2,), (3,)]
            assert pipe.result(count) == 4
        uow.commit()


def test_a_failed_statement_is_reported_and_the_transaction_keeps_nothing(scratch):
    uow = scratch()
    with uow:
        with StatementPipe(uow) as pipe:
            pipe.submit("INSERT INTO pipe_log (n) VALUES (1)")
            pipe.submit("INSERT INTO pipe_log (n) VALUES ('not a number')")
            pipe.submit("INSERT INTO pipe_log (n) VALUES (3)")
            with pytest.raises(StatementFailed, match="invalid input syntax for type integer"):
                pipe.drain()
        # no commit: leaving the block rolls back
    uow = scratch()
    with uow:
        assert uow.session.execute(text("SELECT count(*) FROM pipe_log")).scalar_one() == 0


def test_sqlalchemy_after_a_failed_statement_raises_it(scratch):
    uow = scratch()
    with uow:
        with StatementPipe(uow) as pipe:
            pipe.submit("SELECT 1 / 0")
            with pytest.raises(StatementFailed, match="division by zero"):
                uow.session.execute(text("SELECT 1"))


def test_the_thread_switch_interval_is_short_only_while_a_pipe_is_open(scratch):
    before = sys.getswitchinterval()
    uow = scratch()
    with uow:
        pipe = StatementPipe(uow)
        assert sys.getswitchinterval() == pytest.approx(min(0.0002, before))
        with pytest.raises(RuntimeError, match="already open"):
            StatementPipe(uow)
        pipe.close()
        assert sys.getswitchinterval() == before
        with pytest.raises(RuntimeError, match="closed"):
            pipe.submit("SELECT 1")
        with StatementPipe(uow) as again:  # the connection is free for the next one
            assert again.result(again.submit("SELECT 2", fetch=True)) == [(2,)]
        assert sys.getswitchinterval() == before
