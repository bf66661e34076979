"""Where data lives: an S3 location (endpoint, bucket, prefix) or a local directory.

`EndpointConfig` carries credentials in the clear; it is built by the caller right before a
run, never logged (its repr hides the secret) and never put in argv.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)
from urllib3.exceptions import ProtocolError


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


def _where(endpoint: EndpointConfig | None, bucket: str = "") -> str:
    where = endpoint.display if endpoint is not None else "the S3 service"
    return where + (f" (bucket {bucket})" if bucket else "")


def describe_code(
    code: str, message: str, endpoint: EndpointConfig | None, bucket: str = ""
) -> str:
    """One sentence for an S3 error code and the service's own message."""
    where = _where(endpoint, bucket)
    display = endpoint.display if endpoint is not None else "the S3 service"
    if code in _CREDENTIAL_CODES:
        return f"Credentials refused: {_CREDENTIAL_CODES[code].format(where=where)} ({code})."
    if code in ("NoSuchBucket", "404") and bucket:
        return f"The bucket {bucket} does not exist on {display} ({code})."
    if code == "NoSuchBucket":
        return f"The bucket does not exist on {display} (NoSuchBucket)."
    if code in ("403", "Forbidden"):
        return f"Credentials refused: access was denied by {where} (403)."
    message = message.strip().rstrip(".")
    return f"{where} answered {code}: {message}." if message else f"{where} answered {code}."


# Why a connection failed, from the text of the lower layers (Python's and Go's alike).
_CONNECTION_REASONS = (
    ("refused", "connection refused"),
    ("name or service not known", "the host name does not resolve"),
    ("no such host", "the host name does not resolve"),
    ("nodename nor servname", "the host name does not resolve"),
    ("temporary failure in name resolution", "the host name does not resolve"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("reset by peer", "the connection was reset"),
    ("broken pipe", "the connection was closed"),
    ("network is unreachable", "the network is unreachable"),
    ("no route to host", "no route to the host"),
)


def _connection_reason(text: str) -> str:
    lowered = text.lower()
    for needle, reason in _CONNECTION_REASONS:
        if needle in lowered:
            return f" ({reason})"
    return ""


def describe_error(
    exc: BaseException, endpoint: EndpointConfig | None = None, bucket: str = ""
) -> str:
    """One readable sentence for a boto3 failure, naming the endpoint and the S3 error code.

    Never the library's own text (class names, URLs with query strings, byte counts of a
    read): those mean nothing to the person who started the job."""
    where = _where(endpoint, bucket)
    display = endpoint.display if endpoint is not None else "the S3 service"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or str(
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
        return describe_code(code, str(error.get("Message") or ""), endpoint, bucket)
    if isinstance(exc, SSLError):
        return f"TLS verification failed for {display}: its certificate is not trusted."
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        reason = _connection_reason(str(exc.kwargs.get("error", "")) or str(exc))
        return f"Cannot reach {display}: the connection failed{reason}."
    if isinstance(exc, ReadTimeoutError):
        return f"{display} stopped answering (read timeout)."
    if isinstance(exc, IncompleteReadError):
        return (
            f"The connection to {display} broke off mid-transfer (received "
            f"{exc.kwargs.get('actual_bytes')} of {exc.kwargs.get('expected_bytes')} bytes)."
        )
    if isinstance(exc, (ResponseStreamingError, ConnectionClosedError, ProtocolError)):
        return f"The connection to {display} broke off mid-transfer."
    if isinstance(exc, NoCredentialsError):
        return f"No credentials for {display}."
    if isinstance(exc, BotoCoreError):
        return f"The request to {where} failed: {exc}"
    return f"The request to {where} failed: {exc or exc.__class__.__name__}"


# An s5cmd (aws-sdk-go) error: "<Code>: <message> status code: 403, request id: ..., host id: ..."
_S5CMD_CODE = re.compile(
    r"^(?P<code>[A-Za-z][\w.]*): (?P<message>.*?)(?:\s+status code: (?P<status>\d+).*)?$", re.S
)


def describe_s5cmd_error(text: str, endpoint: EndpointConfig | None, bucket: str = "") -> str:
    """The sentence for an error line of s5cmd, in the same words as `describe_error`."""
    text = " ".join(str(text).split())
    display = endpoint.display if endpoint is not None else "the S3 service"
    lowered = text.lower()
    if "caused by:" in lowered or lowered.startswith("requesterror"):
        if "x509" in lowered or "certificate" in lowered:
            return f"TLS verification failed for {display}: its certificate is not trusted."
        if "eof" in lowered.rsplit(":", 1)[-1] or "unexpected eof" in lowered:
            return f"The connection to {display} broke off mid-transfer."
        return f"Cannot reach {display}: the connection failed{_connection_reason(text)}."
    if "context canceled" in lowered:
        return "Stopped before it finished (the run was cancelled)."
    match = _S5CMD_CODE.match(text)
    if match and match.group("code") not in ("RequestError", "SerializationError"):
        code, message = match.group("code"), match.group("message")
        if code in ("Forbidden", "NotFound", "BadRequest") and match.group("status"):
            code = match.group("status")
        return describe_code(code, message, endpoint, bucket)
    return f"s5cmd: {text}"
