"""desk-desktop bench NAME [--json]: one performance target measured, one JSON object printed."""

from __future__ import annotations

import importlib

from desk_desktop.bench import BENCHES
from desk_desktop.cli import CliContext


def register(sub, common) -> None:
    p = sub.add_parser("bench", parents=[common], help="measure one performance target (prints name, value, unit, target, ok)")
    p.add_argument("name", choices=sorted(BENCHES))
    p.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not the target figures)")
    fleet = p.add_argument_group("fleet")
    fleet.add_argument("--workstations", type=int, help="simulated workstations (default 50)")
    fleet.add_argument("--seconds", type=float, help="seconds of load (default 30)")
    fleet.add_argument("--processes", type=int, help="worker processes hosting the workstations (default 4)")
    fleet.add_argument("--pgbouncer", action="store_true", help="through PgBouncer (pools in transaction mode, "
                       "listeners in session mode)")
    p.set_defaults(func=run)


def run(ctx: CliContext) -> int:
    module = importlib.import_module(BENCHES[ctx.args.name])
    result = module.run(ctx.settings, ctx.args)
    human = (f"{result['name']}: {result['value']} {result['unit']}"
             + (f" (baseline {result['baseline']}, ratio {result['ratio']})" if result.get("baseline") else "")
             + f" target {result['target']} -> {'OK' if result['ok'] else 'NOT MET'}")
    ctx.emit(result, human)
    return 0 if result["ok"] else 1
