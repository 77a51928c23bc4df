"""DESK_CLAMD_MAX_FILE_MB reaches the scanner a workstation really uses: environment →
settings → start_workstation → its scheduler's rescan (real clamd, real database)."""

from __future__ import annotations

import io

from desk_desktop.bootstrap import start_workstation
from desk_desktop.config import load_settings
from desk_desktop.db.models import Customer
from desk_desktop.db.session import UnitOfWorkFactory, make_engine
from desk_desktop.services import attachments as att
from desk_desktop.services.scanning import ScanStatus
from desk_desktop.services.tickets import create_ticket
from tests.conftest import make_org

MIB = 1024 * 1024


def test_the_configured_limit_marks_a_larger_file_not_scanned(fresh_db, clamd, tmp_path):
    engine = make_engine(fresh_db)
    factory = UnitOfWorkFactory(engine)
    try:
        actor = make_org(factory(), slug="limits")
        with factory() as uow:
            uow.session.add(Customer(organization_id=actor.organization_id, ref="C-1", name="Northwind",
                                     customer_type="business"))
            uow.commit()
        ticket = create_ticket(uow=factory(), actor=actor, subject="Photos of the plant room", category="general",
                               priority="low", customer_ref="C-1").ticket
        # Stored while clamd is down: both wait for a rescan.
        with clamd.stopped():
            big = att.add_attachment(uow_factory=factory, actor=actor, ticket_id=ticket.id,
                                     source=io.BytesIO(b"plain text " * (2 * MIB // 11)), original_name="log.txt",
                                     scanner=clamd.scanner())
            small = att.add_attachment(uow_factory=factory, actor=actor, ticket_id=ticket.id,
                                       source=io.BytesIO(b"short note"), original_name="note.txt",
                                       scanner=clamd.scanner())
        assert big.scan_status == small.scan_status == ScanStatus.PENDING

        # 2 MiB is within what this clamd scans (4 MiB): only the setting can refuse it.
        settings = load_settings({"DESK_DATABASE_URL": fresh_db, "DESK_CLAMD": clamd.address,
                                  "DESK_CLAMD_MAX_FILE_MB": "1.5", "DESK_DATA_DIR": str(tmp_path),
                                  "DESK_CONFIG_DIR": str(tmp_path)})
        ws = start_workstation(settings, with_listener=False)
        try:
            ws.scheduler.run_job("rescan")
        finally:
            ws.shutdown()
        big = att.get_attachment(uow=factory(), actor=actor, attachment_id=big.id)
        assert big.scan_status == ScanStatus.NOT_SCANNED
        assert "larger than the scanner's 1.5 MiB limit" in big.scan_reason
        assert att.get_attachment(uow=factory(), actor=actor, attachment_id=small.id).scan_status == ScanStatus.CLEAN
    finally:
        engine.dispose()
