"""desk-desktop demo — load demo data into an empty database."""

from __future__ import annotations

from dataclasses import asdict

from desk_desktop.cli import CliContext


def register(sub, common) -> None:
    from desk_desktop.services.demo import DEMO_PLANNED

    p = sub.add_parser("demo", parents=[common], help="load demo data into an empty database")
    p.add_argument("--planned", type=int, default=DEMO_PLANNED, metavar="N",
                   help=f"work orders booked into the coming days (default {DEMO_PLANNED})")
    p.set_defaults(func=run)


def run(ctx: CliContext) -> int:
    from desk_desktop.services.demo import load_demo

    summary = load_demo(uow_factory=ctx.database().uow_factory, planned=max(0, ctx.args.planned))
    ctx.emit(asdict(summary),
             f"Loaded the demo organization '{summary.organization_slug}': {summary.technicians} technicians, "
             f"{summary.customers} customers, {summary.sites} sites, {summary.rules} rules, "
             f"{summary.tickets} tickets, {summary.work_orders} work orders.")
    return 0
