"""Where data lives: an S3 location (endpoint, bucket, prefix) or a local directory.

`EndpointConfig` carries credentials in the clear; it is built by the caller right before a
run, never logged (its repr hides the secret) and never put in argv.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    SSLError,
)


@dataclass(frozen=True)
class EndpointConfig:
    """An S3 service and one set of credentials for it."""

    url: str  # empty: AWS S3
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"
    addressing_style: str = "auto"  # auto | path | virtual
    verify_tls: bool = True

    @property
    def display(self) -> str:
        return self.url or "AWS S3"

    def same_service_and_credentials(self, other: EndpointConfig) -> bool:
        """True when one s5cmd process (one endpoint, one credential set) can reach both."""
        return (self.url, self.region, self.access_key_id, self.secret_access_key) == (
            other.url,
            other.region,
            other.access_key_id,
            other.secret_access_key,
        )

    def client(self, *, max_connections: int = 10, attempts: int = 3):
        """A boto3 S3 client; thread-safe, so one is shared by the threads of a run."""
        style = self.addressing_style
        if style == "auto":
            style = "path" if self.url else "auto"
        config = Config(
            region_name=self.region or "us-east-1",
            signature_version="s3v4",
            s3={"addressing_style": style},
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=max_connections,
            # S3-compatible services differ in their support of the newer CRC checksums;
            # payloads the engine writes carry Content-MD5 instead, which all of them check.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        with _SESSION_LOCK:  # a Session is not thread-safe; the clients it makes are
            return _session().client(
                "s3",
                endpoint_url=self.url or None,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                verify=self.verify_tls,
                config=config,
            )


_SESSION_LOCK = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    """One boto3 session per process: it loads the S3 service model once (about 50 ms), so a
    client costs a few milliseconds instead. Credentials are given per client, never taken
    from the session."""
    return boto3.session.Session()


@dataclass(frozen=True)
class S3Location:
    endpoint: EndpointConfig
    bucket: str
    prefix: str = ""  # validated: empty or ending with '/', unless it holds wildcards

    is_local = False

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    @property
    def display(self) -> str:
        return f"{self.endpoint.display}: s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class LocalLocation:
    path: str  # validated: absolute, symlinks resolved, under an allowed root

    is_local = True

    @property
    def display(self) -> str:
        return f"local:{self.path}"


Location = S3Location | LocalLocation


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId": "the access key id is not known to {where}",
    "SignatureDoesNotMatch": "the secret key does not match the access key id at {where}",
    "InvalidToken": "the session token was refused by {where}",
    "ExpiredToken": "the credentials have expired at {where}",
    "AccessDenied": "access was denied by {where}",
    "AllAccessDisabled": "access was denied by {where}",
}


def describe_error(exc: BaseException, endpoint: EndpointConfig, bucket: str = "") -> str:
    """One readable sentence for a boto3 failure, naming the endpoint and the S3 error code."""
    where = endpoint.display + (f" (bucket {bucket})" if bucket else "")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
        if code in _CREDENTIAL_CODES:
            return f"Credentials refused: {_CREDENTIAL_CODES[code].format(where=where)} ({code})."
        if code in ("NoSuchBucket", "404") and bucket:
            return f"The bucket {bucket} does not exist on {endpoint.display} ({code})."
        if code in ("403", "Forbidden"):
            return f"Credentials refused: access was denied by {where} (403)."
        message = error.get("Message") or str(exc)
        return f"{where} answered {code}: {message}"
    if isinstance(exc, SSLError):
        return f"TLS verification failed for {endpoint.display}: {exc}"
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return f"Cannot reach {endpoint.display}: the connection failed ({exc})."
    if isinstance(exc, ReadTimeoutError):
        return f"{endpoint.display} stopped answering (read timeout)."
    if isinstance(exc, NoCredentialsError):
        return f"No credentials for {endpoint.display}."
    if isinstance(exc, BotoCoreError):
        return f"{endpoint.display}: {exc}"
    return f"{endpoint.display}: {exc.__class__.__name__}: {exc}"
