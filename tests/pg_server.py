"""A throwaway PostgreSQL server for tests: ``start_postgres(tmpdir) -> (url, stop)``.

Finds ``initdb``/``pg_ctl`` (``SIYU_PG_BIN``, then PATH, then ``/usr/lib/postgresql/*/bin``), creates a
cluster with trust authentication on loopback only, starts it on a free port with its socket in the
cluster folder, and creates database ``siyu_test``. When running as root the cluster is owned by the
``postgres`` user (PostgreSQL refuses to run as root), in a folder under the system temp dir that user
can reach. Any failure raises :class:`PostgresUnavailable` with the reason and the server log's tail.

Fixtures built on it (``postgres_server``, ``pg_database``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

DB_NAME = "siyu_test"
_SERVER_OPTS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB "
                "-c max_connections=100")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed here, or its server did not start."""


def find_pg_bin() -> Path | None:
    """The folder with ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    explicit = os.environ.get("SIYU_PG_BIN")
    if explicit:  # an explicit choice: no searching elsewhere when it is wrong
        candidates = [explicit]
    else:
        found = shutil.which("initdb")
        candidates = [str(Path(found).resolve().parent)] if found else []  # /usr/local/bin links into bin/
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for cand in candidates:
        folder = Path(cand)
        if all((folder / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], as_postgres: bool, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = ["runuser", "-u", "postgres", "--", *args] if as_postgres else args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def start_postgres(tmpdir: Path) -> tuple[str, Callable[[], None]]:
    """Start a private PostgreSQL server; returns the ``postgresql+psycopg://`` URL of ``siyu_test`` and
    a ``stop()`` that shuts the server down and removes its files."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        where = f"SIYU_PG_BIN={os.environ['SIYU_PG_BIN']}" if os.environ.get("SIYU_PG_BIN") else \
            "PATH or /usr/lib/postgresql/*/bin"
        raise PostgresUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in {where}; "
                                  "install the 'postgresql' package or set SIYU_PG_BIN")
    as_root = os.geteuid() == 0
    if as_root:
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root, but 'runuser' is missing to run PostgreSQL as 'postgres'")
        base = Path(tempfile.mkdtemp(prefix="siyu-pg-"))  # pytest's tmp dirs are 0700 root: postgres can't enter
        try:
            shutil.chown(base, user="postgres", group="postgres")
        except LookupError as exc:
            shutil.rmtree(base, ignore_errors=True)
            raise PostgresUnavailable("running as root, but there is no 'postgres' user to run the server") from exc
    else:
        base = Path(tmpdir) / "pg"
        base.mkdir(parents=True, exist_ok=True)
    data, log = base / "data", base / "server.log"

    def stop() -> None:
        with contextlib.suppress(Exception):
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_root, timeout=60)
        shutil.rmtree(base, ignore_errors=True)

    try:
        port = _init_and_start(bin_dir, base, as_root)
        return create_database(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", DB_NAME), stop
    except Exception as exc:  # whatever went wrong, leave no server or files behind
        stop()
        if isinstance(exc, PostgresUnavailable):
            raise
        raise PostgresUnavailable(f"PostgreSQL ({bin_dir}) did not come up: {exc}\n{_tail(log)}") from exc


def _init_and_start(bin_dir: Path, base: Path, as_root: bool) -> int:
    """initdb into ``base/data`` and start the server on a free loopback port; returns the port."""
    data, log = base / "data", base / "server.log"
    done = _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--locale=C", "--no-sync"], as_root)
    if done.returncode != 0:
        raise PostgresUnavailable(f"initdb failed ({bin_dir}): {done.stderr.strip()[-2000:]}")
    with open(data / "pg_hba.conf", "w") as hba:  # loopback only, no passwords: a test cluster
        hba.write("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    last_error = ""
    for _ in range(3):  # the free port can be taken between choosing and binding it
        port = _free_port()
        started = _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
                        f"-p {port} -c listen_addresses=127.0.0.1 -k {base} {_SERVER_OPTS}", "start"], as_root)
        if started.returncode == 0:
            return port
        last_error = started.stderr.strip() + "\n" + _tail(log)
    raise PostgresUnavailable(f"PostgreSQL did not start: {last_error[-2000:]}")


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-2000:]
    return ""


def _admin(server_url: str, statement: str, name: str) -> None:
    """Run ``statement`` with ``{}`` replaced by ``name`` as a quoted identifier, on the maintenance database."""
    import psycopg
    from psycopg import sql
    from sqlalchemy import make_url

    url = make_url(server_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


def database_url(server_url: str, name: str) -> str:
    """``server_url`` (with or without a database) pointing at database ``name``."""
    from sqlalchemy import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url``; returns its URL."""
    _admin(server_url, "CREATE DATABASE {} TEMPLATE template0", name)
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting anyone still in it."""
    _admin(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def fresh_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """A new empty database on the server of ``server_url`` (any database URL on it) and its ``drop()``."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = create_database(server_url, name)
    return url, lambda: drop_database(server_url, name)
