"""The traditional path, as a script of its own: download every object to local disk with
boto3, then upload every file to the destination.

Run as a separate process by the harness so its memory and disk writes are measured on their
own. It uses boto3's own transfer manager (`download_file` / `upload_file`: multipart above
8 MB, 10 threads per object) and 10 objects in parallel, boto3's defaults.

    python -m bench.traditional SRC_URL SRC_BUCKET SRC_PREFIX DST_URL DST_BUCKET DST_PREFIX WORKDIR
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

THREADS = 10


def client(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=THREADS * 10),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("src_url", "src_bucket", "src_prefix", "dst_url", "dst_bucket", "dst_prefix"):
        parser.add_argument(name)
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args(argv)

    source, destination = client(args.src_url), client(args.dst_url)
    keys = [
        item["Key"]
        for page in source.get_paginator("list_objects_v2").paginate(
            Bucket=args.src_bucket, Prefix=args.src_prefix
        )
        for item in page.get("Contents", [])
    ]

    def local(key: str) -> Path:
        return args.workdir / key[len(args.src_prefix) :]

    def download(key: str) -> None:
        path = local(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        source.download_file(args.src_bucket, key, str(path))

    def upload(key: str) -> None:
        relative = key[len(args.src_prefix) :]
        destination.upload_file(str(local(key)), args.dst_bucket, args.dst_prefix + relative)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(download, keys))
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(upload, keys))
    print(len(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
