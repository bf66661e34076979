"""Helpers of the transfer tests: an S3 service with real credentials, data and hashes."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta

import boto3
from botocore.config import Config

from tests.support import wait_until


@dataclass
class S3Service:
    url: str
    access_key: str
    secret_key: str

    @classmethod
    def provision(cls, url: str, *, user: str) -> S3Service:
        """Create an IAM user with full S3 rights; its key is the only one the server accepts."""
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        iam.put_user_policy(
            UserName=user,
            PolicyName="s3-all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        return cls(url=url, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])

    def client(self, *, secret_key: str | None = None):
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def config(self, **overrides):
        """The engine's view of this service, with its credentials."""
        from transfers.engine import EndpointConfig

        values = {
            "url": self.url,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            "addressing_style": "path",
        }
        values.update(overrides)
        return EndpointConfig(**values)

    def bucket(self, stem: str = "b") -> str:
        name = f"{stem}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def endpoint(self, team, name: str, **overrides):
        from transfers.models import Endpoint

        fields = {
            "team": team,
            "name": name,
            "url": self.url,
            "region": "us-east-1",
            "addressing_style": Endpoint.Addressing.PATH,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
        }
        fields.update(overrides)
        return Endpoint.objects.create(**fields)


def sample_data(count: int, *, seed: str = "", size: int = 3000) -> dict[str, bytes]:
    """Distinct, reproducible objects in a few folders; sizes vary around `size`."""
    return {
        f"dir{n % 3}/object-{n:05d}.bin": hashlib.sha256(f"{seed}{n}".encode()).digest()
        * ((size + n * 37) // 32)
        for n in range(count)
    }


def put_objects(client, bucket: str, objects: dict[str, bytes], *, prefix: str = "") -> None:
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=prefix + key, Body=body)


def hashes(objects: dict[str, bytes]) -> dict[str, str]:
    return {key: hashlib.sha256(body).hexdigest() for key, body in objects.items()}


def s3_hashes(client, bucket: str, prefix: str = "") -> dict[str, str]:
    """Key (relative to `prefix`) -> SHA-256 of every object's bytes, read back from S3."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"][len(prefix) :]] = hashlib.sha256(body).hexdigest()
    return found


def s3_keys(client, bucket: str, prefix: str = "") -> set[str]:
    found = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.update(item["Key"][len(prefix) :] for item in page.get("Contents", ()))
    return found


def write_files(root, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        path = os.path.join(root, *key.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(body)


def file_hashes(root) -> dict[str, str]:
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as file:
                key = os.path.relpath(path, root).replace(os.sep, "/")
                found[key] = hashlib.sha256(file.read()).hexdigest()
    return found


def wait_for_job(job, *, states=None, timeout: float = 180.0):
    """Poll the database until the job reaches one of `states` (default: any finished one)."""
    from transfers.models import Job

    wanted = states or Job.FINISHED_STATES
    reached = wait_until(
        lambda: Job.objects.filter(pk=job.pk, state__in=wanted).first(),
        f"job #{job.pk} to reach {', '.join(wanted)}",
        timeout=timeout,
    )
    return reached


def multipart_uploads(client, bucket: str) -> list[dict]:
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def s5cmd_processes(endpoint_url: str) -> list:
    """Live s5cmd processes talking to `endpoint_url`, wherever they are in the process tree
    (an orphan of a killed worker is re-parented, so descendants alone would miss it)."""
    import psutil

    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            talks_to_it = endpoint_url in (process.info["cmdline"] or [])
            alive = process.status() != psutil.STATUS_ZOMBIE
            if process.info["name"] == "s5cmd" and talks_to_it and alive:
                found.append(process)
        except psutil.Error:
            continue
    return found


def same_bucket_profile(team, actor, endpoint, bucket: str, **fields):
    """A profile from `bucket`/src/ to `bucket`/dst/ on one endpoint (a server-side copy)."""
    from transfers import services

    values = {
        "source_endpoint": endpoint,
        "source_bucket": bucket,
        "source_prefix": "src/",
        "destination_endpoint": endpoint,
        "destination_bucket": bucket,
        "destination_prefix": "dst/",
    }
    values.update(fields)
    return services.create_profile(team, actor=actor, **values)


def finished_run(profile, *, started_at, seconds: float = 60, state: str = "succeeded", **fields):
    """A finished job of `profile`, stored as a worker leaves one (for history, not data)."""
    from transfers.models import Job

    return Job.objects.create(
        team=profile.team,
        profile=profile,
        profile_name=profile.name,
        state=state,
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=seconds),
        **fields,
    )


def run_here(monkeypatch, job, *, on_progress=None, after_engine=None, after_finish=None) -> str:
    """Run `job` in this process as its task would (execution.run_job), with hooks at exact
    points: `on_progress(progress)` in the engine's thread before each snapshot is published
    (e.g. at the start of verification), `after_engine(result)` between the engine's return
    and the final write, and `after_finish()` right after that write."""
    from transfers import execution

    real_run, real_finish = execution.run_transfer, execution.finish

    def run_transfer(spec, *, on_progress: object = None, **kwargs):
        publish = on_progress

        def progress(snapshot):
            if hook is not None:
                hook(snapshot)
            if publish is not None:
                publish(snapshot)

        result = real_run(spec, on_progress=progress, **kwargs)
        if after_engine is not None:
            after_engine(result)
        return result

    def finish(*args, **kwargs):
        state = real_finish(*args, **kwargs)
        if after_finish is not None:
            after_finish()
        return state

    hook = on_progress
    monkeypatch.setattr(execution, "run_transfer", run_transfer)
    monkeypatch.setattr(execution, "finish", finish)
    return execution.run_job(job.pk)


class GatedProxy:
    """A TCP proxy on loopback in front of a server, whose traffic the test holds and lets go:
    while held, bytes wait in the proxy both ways, so a transfer through it stays in flight for
    as long as the test wants, however little data it moves."""

    def __init__(self, target_port: int):
        import socket
        import threading

        self.target_port = target_port
        self.gate = threading.Event()
        self.gate.set()
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._sockets: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.release()
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            self.connections += 1
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst) -> None:
        import socket

        try:
            while data := src.recv(65536):
                self.gate.wait()
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def capture_late_sweeps(monkeypatch) -> list[tuple[tuple, int]]:
    """Record the late upload sweeps a cancel or the reaper queues, as (args, countdown),
    instead of sending them; every other task is sent as usual."""
    from transfers import dispatch

    sweeps, real_send = [], dispatch.send

    def send(task: str, args: tuple, *, countdown=None, **options) -> bool:
        if task != "transfers.sweep_uploads":
            return real_send(task, args, countdown=countdown, **options)
        sweeps.append((args, countdown))
        return True

    monkeypatch.setattr(dispatch, "send", send)
    return sweeps
