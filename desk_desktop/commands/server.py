"""desk-desktop server start|stop|status — the private PostGIS cluster."""

from __future__ import annotations

from desk_desktop.cli import CliContext, CliError


def register(sub, common) -> None:
    p = sub.add_parser("server", parents=[common], help="the private PostGIS cluster")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=run)


def run(ctx: CliContext) -> int:
    from desk_desktop.bootstrap import private_cluster
    from desk_desktop.db import migrate
    from desk_desktop.db.session import make_engine

    if not ctx.settings.uses_private_cluster:
        raise CliError("DESK_DATABASE_URL (or --database-url) points at a shared server; "
                       "'server' manages only the private cluster.")
    cluster = private_cluster(ctx.settings)
    action = ctx.args.action
    if action == "start":
        started = cluster.start()
        cluster.pin()  # started on purpose: apps leave it running when they exit
        engine = make_engine(cluster.url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        st = cluster.status()
        ctx.emit({"running": st.running, "started": started, "data_dir": str(st.data_dir), "url": st.url},
                 ("Started.\n" if started else "Already running.\n") + st.describe())
        return 0
    if action == "stop":
        cluster.unpin()
        stopped = cluster.stop()
        st = cluster.status()
        ctx.emit({"running": st.running, "stopped": stopped, "data_dir": str(st.data_dir)},
                 ("Stopped.\n" if stopped else "Was not running.\n") + st.describe())
        return 0
    st = cluster.status()
    ctx.emit({"running": st.running, "initialized": st.initialized, "data_dir": str(st.data_dir),
              "socket_dir": str(st.socket_dir), "pid": st.pid, "url": st.url}, st.describe())
    return 0 if st.running else 3
