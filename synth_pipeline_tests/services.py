"""Real servers on loopback for the ``service`` tests: Postgres, Redis, an S3-protocol server, Celery workers.

Why a harness of our own instead of containers: CI and developers run on one plain Debian machine
without a container runtime, and a test must prove it left nothing behind. Every server here

* listens on 127.0.0.1 on a port the kernel just handed out (:func:`free_port`),
* is started as a child process whose PID (and kernel start time, so a reused PID is not mistaken
  for ours) goes into a :class:`ProcessLedger`, together with the PIDs of the workers it forks,
* is stopped by signalling that PID (never by process name), and the ledger then checks that
  every recorded PID is gone (:meth:`ProcessLedger.assert_all_gone`).

Debian packages (postgresql, redis-server) are installed with apt-get when absent, as the Makefile's
``browser`` target installs chromium. The Python parts (moto[server], dagster-celery, redis, boto3)
come from the dev extra; a test that lacks them skips with the package name (see :func:`require`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT_S = float(os.environ.get("SYNTH_SERVICE_START_TIMEOUT_S", "60"))
STOP_TIMEOUT_S = float(os.environ.get("SYNTH_SERVICE_STOP_TIMEOUT_S", "30"))


class ServiceError(RuntimeError):
    """A server could not be installed, started or stopped; the message says which and why."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def require(module: str, package: str) -> None:
    """Skip the calling test when a Python part of the service stack is not installed."""
    import importlib.util

    import pytest

    if importlib.util.find_spec(module) is None:
        pytest.skip(f"service test needs the Python package {package!r} (dev extra); it is not installed")


# --- processes ------------------------------------------------------------------------


def _start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot), or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` alive now (Linux /proc; threads' children included)."""
    found: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError):
            for child in map(int, Path(path).read_text().split()):
                found.append(child)
                found.extend(_children(child))
    return found


@dataclass
class Tracked:
    name: str
    pid: int
    start_time: int

    def alive(self) -> bool:
        return _start_time(self.pid) == self.start_time


@dataclass
class ProcessLedger:
    """Every process a harness started (and the ones they forked), to stop and to check by PID."""

    processes: list[Tracked] = field(default_factory=list)

    def record(self, name: str, pid: int) -> None:
        started = _start_time(pid)
        if started is not None and not any(p.pid == pid and p.start_time == started for p in self.processes):
            self.processes.append(Tracked(name, pid, started))

    def record_tree(self, name: str, pid: int) -> None:
        """Record ``pid`` and every descendant it has now (postmaster backends, Celery pool workers)."""
        self.record(name, pid)
        for child in _children(pid):
            self.record(f"{name}/child", child)

    def alive(self) -> list[Tracked]:
        return [p for p in self.processes if p.alive()]

    def assert_all_gone(self) -> None:
        left = self.alive()
        if left:
            raise AssertionError(f"processes still running: {[(p.name, p.pid) for p in left]}")


def _stop(ledger: ProcessLedger, name: str, proc: subprocess.Popen, sig: int | None) -> None:
    """Signal one server by its PID (``sig`` None: already signalled), wait for it and its recorded
    children; escalate to SIGKILL after STOP_TIMEOUT_S."""
    ledger.record_tree(name, proc.pid)  # backends and pool workers forked since start
    family = [p for p in ledger.processes if p.name in (name, f"{name}/child")]
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(p.alive() for p in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    for straggler in (p for p in family if p.alive()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(straggler.pid, signal.SIGKILL)


def _wait_until(ready, proc: subprocess.Popen, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise ServiceError(f"{what} exited with {proc.returncode} while starting:\n{tail}")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.05)
    raise ServiceError(f"{what} did not become ready in {START_TIMEOUT_S:.0f} s")


@dataclass
class Timing:
    """Wall seconds from spawning a server to its first answer, and from the stop signal to exit."""

    start_s: float = 0.0
    stop_s: float = 0.0


# --- Debian packages ---------------------------------------------------------------------


@contextlib.contextmanager
def _serving(
    ledger: ProcessLedger, name: str, proc: subprocess.Popen, begun: float, ready, log: Path, stop_signal: int
) -> Iterator[Timing]:
    """Record ``proc``, wait until ``ready()`` answers, yield its timing; stop it by its PID on exit."""
    ledger.record(name, proc.pid)
    timing = Timing()
    try:
        _wait_until(ready, proc, name, log)
        timing.start_s = time.perf_counter() - begun
        yield timing
    finally:
        stopping = time.perf_counter()
        _stop(ledger, name, proc, stop_signal)
        timing.stop_s = time.perf_counter() - stopping


def ensure_debian_package(package: str, present: bool) -> None:
    """``apt-get install -y package`` when it is missing (as root, or through sudo)."""
    if present:
        return
    if shutil.which("apt-get") is None:
        raise ServiceError(f"{package} is not installed and there is no apt-get to install it")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        done = subprocess.run(prefix + args, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise ServiceError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")


def postgres_bindir() -> Path | None:
    """Debian keeps initdb/postgres under /usr/lib/postgresql/<major>/bin, not on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


# --- Postgres ------------------------------------------------------------------------------


@dataclass
class Postgres:
    port: int
    user: str
    bindir: Path
    timing: Timing

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq key=value string (DuckDB's postgres and ducklake extensions read this form)."""
        return f"host={HOST} port={self.port} user={self.user} dbname={dbname}"

    def url(self, dbname: str = "postgres", driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@{HOST}:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """One statement through Debian's psql; returns its unaligned output."""
        done = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo(dbname)],
            input=sql,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise ServiceError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return name


def _server_user() -> str | None:
    """Postgres refuses to run as root: run it as Debian's ``postgres`` user (or ``nobody``) then."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServiceError("running as root and there is no postgres or nobody user to run Postgres as")


@contextlib.contextmanager
def postgres_server(ledger: ProcessLedger) -> Iterator[Postgres]:
    """A throw-away cluster (initdb, trust auth on loopback only, fsync off), stopped by its PID."""
    ensure_debian_package("postgresql", postgres_bindir() is not None)
    bindir = postgres_bindir()
    assert bindir is not None
    run_as = _server_user()
    root = Path(tempfile.mkdtemp(prefix="synth-pg-"))
    if run_as:
        # pytest's tmp_path is private to root; the server user owns this folder instead.
        info = pwd.getpwnam(run_as)
        os.chown(root, info.pw_uid, info.pw_gid)
    user_kwargs = {"user": run_as} if run_as else {}
    data, log = root / "data", root / "server.log"
    port = free_port()
    try:
        begun = time.perf_counter()
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=root,
            **user_kwargs,  # type: ignore[call-overload]
        )
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-h", HOST, "-p", str(port), "-k", str(root)]
                + ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
                + ["-c", "max_connections=200"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
                **user_kwargs,  # type: ignore[call-overload]
            )
        ready = [str(bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", "postgres"]
        # SIGINT = "fast" shutdown
        with _serving(
            ledger, "postgres", proc, begun, lambda: subprocess.run(ready).returncode == 0, log, signal.SIGINT
        ) as timing:
            ledger.record_tree("postgres", proc.pid)
            yield Postgres(port, "postgres", bindir, timing)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- Redis ---------------------------------------------------------------------------------


@dataclass
class Redis:
    port: int
    timing: Timing

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"


def _redis_pong(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


@contextlib.contextmanager
def redis_server(ledger: ProcessLedger) -> Iterator[Redis]:
    """Debian's redis-server in the foreground, nothing persisted, stopped by its PID."""
    ensure_debian_package("redis-server", shutil.which("redis-server") is not None)
    root = Path(tempfile.mkdtemp(prefix="synth-redis-"))
    port = free_port()
    log = root / "server.log"
    try:
        begun = time.perf_counter()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["redis-server", "--bind", HOST, "--port", str(port), "--dir", str(root)]
                + ["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
            )
        with _serving(ledger, "redis", proc, begun, lambda: _redis_pong(port), log, signal.SIGTERM) as timing:
            yield Redis(port, timing)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- S3-protocol server ------------------------------------------------------------------------


@dataclass
class S3:
    port: int
    timing: Timing
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        """``host:port``, the form DuckDB's S3 secret (ENDPOINT) and SYNTH_S3_ENDPOINT take."""
        return f"{HOST}:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self):
        """A boto3 S3 client for this server; credentials are the server's dummy ones, from the environment."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:  # loopback only
        return response.status < 500


@contextlib.contextmanager
def s3_server(ledger: ProcessLedger) -> Iterator[S3]:
    """moto's server (every bucket in memory), which speaks the S3 protocol, stopped by its PID."""
    root = Path(tempfile.mkdtemp(prefix="synth-s3-"))
    port = free_port()
    log = root / "server.log"
    try:
        begun = time.perf_counter()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
            )
        ready = lambda: _http_ok(f"http://{HOST}:{port}/moto-api/")  # noqa: E731
        with _serving(ledger, "s3", proc, begun, ready, log, signal.SIGTERM) as timing:
            yield S3(port, timing)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- Celery workers for dagster-celery -------------------------------------------------------------


CELERY_APP = "dagster_celery.app"


def write_celery_config(folder: Path, broker: str, backend: str) -> Path:
    """The ``dagster_celery_config`` module that ``dagster_celery.app`` imports when it is on the path.

    It is what ``dagster-celery worker start -y celery.yaml`` writes from the executor's config block;
    writing it here lets the harness start ``celery`` itself and so own the worker's PID.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster_celery_config.py").write_text(f"broker_url = {broker!r}\nresult_backend = {backend!r}\n")
    return folder


@dataclass
class CeleryWorkers:
    names: list[str]
    pids: list[int]
    broker: str
    backend: str
    timing: Timing


@contextlib.contextmanager
def celery_workers(
    ledger: ProcessLedger,
    broker: str,
    backend: str,
    count: int = 2,
    concurrency: int = 1,
    env: dict[str, str] | None = None,
    pythonpath: list[str] | None = None,
) -> Iterator[CeleryWorkers]:
    """``count`` workers of dagster-celery's app on the ``dagster`` queue, each stopped by its PID.

    The command is the one ``dagster-celery worker start -A dagster_celery.app`` runs
    (``celery -A dagster_celery.app worker --prefetch-multiplier=1 -Q dagster -n NAME``), started
    directly: ``dagster-celery worker start`` keeps celery as its own child, so its PID is not the worker's.
    """
    root = Path(tempfile.mkdtemp(prefix="synth-celery-"))
    config_dir = write_celery_config(root / "config", broker, backend)
    path = [str(config_dir), *(pythonpath or []), os.environ.get("PYTHONPATH", "")]
    worker_env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    procs: list[tuple[str, subprocess.Popen, Path]] = []
    try:
        begun = time.perf_counter()
        for i in range(count):
            name = f"synth-w{i}-{os.getpid()}@{HOST}"
            log = root / f"worker{i}.log"
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", CELERY_APP, "worker", "--prefetch-multiplier=1"]
                    + ["-Q", "dagster", "-n", name, "--concurrency", str(concurrency), "--loglevel", "INFO"]
                    + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=root,
                    env=worker_env,
                )
            ledger.record(f"celery{i}", proc.pid)
            procs.append((name, proc, log))
        for i, (name, proc, log) in enumerate(procs):
            says_ready = lambda log=log: " ready." in log.read_text(errors="replace")  # noqa: E731
            _wait_until(says_ready, proc, f"celery worker {name}", log)
            ledger.record_tree(f"celery{i}", proc.pid)
        workers = CeleryWorkers(
            [n for n, _, _ in procs], [p.pid for _, p, _ in procs], broker, backend, Timing(time.perf_counter() - begun)
        )
        yield workers
    finally:
        stopping = time.perf_counter()
        for i, (_, proc, _) in enumerate(procs):
            ledger.record_tree(f"celery{i}", proc.pid)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the task in hand, then exit
        for i, (_, proc, _) in enumerate(procs):
            _stop(ledger, f"celery{i}", proc, None)
        if "workers" in locals():
            workers.timing.stop_s = time.perf_counter() - stopping
        shutil.rmtree(root, ignore_errors=True)
