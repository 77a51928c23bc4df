"""Benchmarks (``desk-desktop bench NAME``). Not tests: each measures and prints JSON.

Each module defines ``run(settings, args) -> dict`` returning the object described in
PERFORMANCE.md: name, value, unit, baseline, ratio, target, ok, details.
"""

BENCHES = {
    "numbering": "desk_desktop.bench.numbering",
    "nearest": "desk_desktop.bench.nearest",
    "assign": "desk_desktop.bench.assign",
    "rules": "desk_desktop.bench.rules",
    "attachments": "desk_desktop.bench.attachments",
    "ticket_list": "desk_desktop.bench.ticket_list",
    "map": "desk_desktop.bench.map",
    "board": "desk_desktop.bench.board",
    "startup": "desk_desktop.bench.startup",
    "fleet": "desk_desktop.bench.fleet",
    "soak": "desk_desktop.bench.soak",
    "import": "desk_desktop.bench.imports",
    "optimize": "desk_desktop.bench.optimize",
}
