"""A throwaway PostgreSQL server for tests: a real server, in a temporary folder, never a mock.

    >>> server = PostgresServer.start_new()       # initdb + pg_ctl start on a free port
    >>> url = server.create_database("t1")         # postgresql+psycopg://postgres@127.0.0.1:PORT/t1
    >>> server.stop(); server.start()              # e.g. to test reconnecting after a restart
    >>> server.destroy()

PostgreSQL refuses to run as root, so as root the binaries run as the `postgres` user through
`runuser` and the folder is handed to that user. Authentication is `trust` on 127.0.0.1 only.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SUPERUSER = "postgres"
# Durability is not what these tests measure: skip fsyncs to keep start-up and DDL fast.
_SERVER_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl) on this machine."""


def find_bin_dir() -> Path:
    """The newest PostgreSQL `bin` folder: Debian's /usr/lib/postgresql/N/bin, else the PATH."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if candidates:
        newest = max(candidates, key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0))
        return Path(newest).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresNotFound("no initdb found in /usr/lib/postgresql/*/bin or on the PATH")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class PostgresServer:
    """One cluster in `base_dir` (data/, the unix socket and server.log), listening on `port`."""

    bin_dir: Path
    base_dir: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if _as_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}\n{log}"
            )

    @classmethod
    def start_new(cls) -> PostgresServer:
        """initdb a fresh cluster in a new temporary folder and start it."""
        bin_dir = find_bin_dir()
        # The system temp dir, not pytest's tmp_path: that one is private to root (mode 0700).
        base_dir = Path(tempfile.mkdtemp(prefix="chatbot-pg-"))
        server = cls(bin_dir=bin_dir, base_dir=base_dir, port=free_port())
        if _as_root():
            shutil.chown(base_dir, user="postgres", group="postgres")
        try:
            server._run("initdb", "-D", str(server.data_dir), "-U", SUPERUSER, "--auth=trust",
                        "--encoding=UTF8", "--locale=C", "--no-sync")
            server.start()
        except BaseException:
            shutil.rmtree(base_dir, ignore_errors=True)
            raise
        return server

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.base_dir} {_SERVER_OPTIONS}"
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
                  "-l", str(self.log_file), "-o", options)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))

    def destroy(self) -> None:
        """Stop the server (if running) and delete its folder."""
        try:
            self.stop()
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def create_database(self, name: str) -> str:
        return create_database(self.url(), name)


def _quoted(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"unsafe database name: {name!r}")
    return f'"{name}"'


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` through `admin_url` and return a URL to it."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {_quoted(name)}"))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name`, closing whatever connections are still open to it."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)"))
    finally:
        engine.dispose()
