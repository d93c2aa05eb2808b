"""`medimg team`: bring up and check a team's shared servers (docs/team.md)."""

from __future__ import annotations

import argparse
import signal
import socket
import time

from medimg.team.credentials import TeamError, team_database
from medimg.team.postgres import check_databases, create_databases, init_cluster, start_cluster
from medimg.team.servers import create_work_pool, start_mlflow_server, start_prefect_server


def run_team_command(args: argparse.Namespace) -> int:
    db = team_database()
    if args.team_command == "check":
        print("\n".join(check_databases(db)))
        return 0
    if args.team_command == "postgres":
        folder = args.dir.resolve()
        if not (folder / "PG_VERSION").exists():
            init_cluster(folder, db)
        start_cluster(folder, db.port, db.host)
        created = create_databases(db)
        print(
            f"PostgreSQL on {db.host}:{db.port} (data {folder}); databases "
            f"{db.prefect_db}, {db.mlflow_db}{' created' if created else ' already there'}; "
            f"stop: pg_ctl -D {folder} stop"
        )
        return 0
    return _serve(args, db)


def reachable(url: str, host: str) -> str:
    """``url`` as other machines reach it: a server listening on every address (0.0.0.0, ::) is
    reached by this machine's name, not by the wildcard."""
    if host not in ("0.0.0.0", "::"):
        return url
    return url.replace(f"//{host}:", f"//{socket.getfqdn()}:", 1)


def _serve(args: argparse.Namespace, db) -> int:
    create_databases(db)
    folder = args.dir.resolve()
    servers = []
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        prefect = start_prefect_server(
            db, args.host, args.prefect_port, folder / "prefect-home", folder / "prefect.log"
        )
        servers.append(prefect)
        mlflow = start_mlflow_server(
            db, args.host, args.mlflow_port, args.artifacts, folder / "mlflow.log"
        )
        servers.append(mlflow)
        create_work_pool(prefect.url, args.work_pool)
        prefect_url, mlflow_url = (reachable(url, args.host) for url in (prefect.url, mlflow.url))
        print(
            f"Prefect: {prefect_url.removesuffix('/api')}  MLflow: {mlflow_url}  work pool: "
            f"{args.work_pool}  (databases {db.shown(db.prefect_db)}, {db.shown(db.mlflow_db)})\n"
            f"on every machine: export PREFECT_API_URL={prefect_url} "
            f"MLFLOW_TRACKING_URI={mlflow_url}",
            flush=True,
        )
        while not stop["now"]:
            for server in servers:
                if server.process.poll() is not None:
                    raise TeamError(f"{server.name} stopped (log: {server.log})")
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for server in reversed(servers):
            server.stop()
    print("stopped")
    return 0
