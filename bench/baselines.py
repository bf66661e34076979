"""What the portal is compared with, each run as its own process tree and measured the same way:
wall time from start to exit, peak memory of the tree, bytes the tree wrote to local storage.

- raw s5cmd: one `s5cmd cp` of the prefix, with s5cmd's defaults;
- `aws s3 sync` (awscli from PyPI) with its defaults (server-side copies on one endpoint);
- the traditional path: boto3 downloads to local disk, then uploads (`bench/traditional.py`);
- across endpoints: `s5cmd cat | s5cmd pipe` per object, as many pairs at once as the portal
  relays objects at once.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure import TreeMonitor
from bench.servers import S3Server, s3_env, s5cmd_binary, split_s3_url


@dataclass
class Run:
    seconds: float
    peak_rss: int
    peak_uss: int
    write_bytes: int


class Failed(RuntimeError):
    pass


def _measure(argv: list[str], *, env: dict[str, str]) -> Run:
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    with TreeMonitor(process.pid) as monitor:
        _out, err = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0 or b'"error"' in err:
        raise Failed(f"{argv[:3]} failed ({process.returncode}): {err.decode()[-800:]}")
    return Run(seconds, monitor.peak_rss, monitor.peak_uss, monitor.write_bytes)


def raw_s5cmd(server: S3Server, src: str, dst: str) -> Run:
    """`s5cmd cp 's3://src/prefix/*' s3://dst/prefix/` (server-side copies)."""
    argv = [s5cmd_binary(), "--json", "--endpoint-url", server.url, "cp", f"{src}*", dst]
    return _measure(argv, env=s3_env())


def aws_sync(server: S3Server, src: str, dst: str) -> Run:
    aws = Path(sys.executable).parent / "aws"
    argv = [str(aws), "s3", "sync", src, dst, "--endpoint-url", server.url, "--only-show-errors"]
    return _measure(argv, env=s3_env())


def traditional(source: S3Server, src: str, destination: S3Server, dst: str, workdir: Path) -> Run:
    src_bucket, src_prefix = split_s3_url(src)
    dst_bucket, dst_prefix = split_s3_url(dst)
    argv = [sys.executable, "-m", "bench.traditional", source.url, src_bucket, src_prefix]
    argv += [destination.url, dst_bucket, dst_prefix, str(workdir)]
    env = s3_env({"PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    try:
        return _measure(argv, env=env)
    finally:
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def cat_pipe(source: S3Server, keys: list[str], src: str, destination: S3Server, dst: str) -> Run:
    """One `s5cmd cat | s5cmd pipe` pair per object, all pairs at once, under one bash that
    waits for every pair and fails if one does."""
    binary = shlex.quote(s5cmd_binary())
    # Each side names its own endpoint; credentials come from the environment (not argv).
    lines = ["pids=()"]
    for key in keys:
        source_url, destination_url = shlex.quote(f"{src}{key}"), shlex.quote(f"{dst}{key}")
        lines.append(
            f"{binary} --json --endpoint-url {source.url} cat {source_url} | "
            f"{binary} --json --endpoint-url {destination.url} pipe {destination_url} & "
            "pids+=($!)"
        )
    lines.append('status=0; for pid in "${pids[@]}"; do wait "$pid" || status=1; done')
    lines.append("exit $status")
    return _measure(["bash", "-c", "\n".join(lines)], env=s3_env())
