"""Checks on everything a user types that reaches S3, s5cmd or the file system.

Each function returns the normalised value or raises `InvalidValue` with a sentence that says
what is wrong. They run when a profile or endpoint is saved and again when a job runs (the
world may have changed in between: DNS answers, symlinks, configuration).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from transfers.engine.errors import InvalidValue

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
WILDCARD_CHARACTERS = ("*", "?")
MAX_KEY_LENGTH = 1024
MAX_PATTERNS = 100

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_IPV4_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
# AWS S3's bucket naming rules reserve these for its own names (punycode host labels, internal
# buckets, documentation examples, access point and directory/table bucket aliases); AWS refuses
# such a bucket, and on other S3 services the name would mean something else once moved to AWS.
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

# Cloud instance-metadata services: never a storage endpoint, always a credential leak.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)


def validate_bucket(name: str) -> str:
    if not name:
        raise InvalidValue("Enter a bucket name.")
    if not 3 <= len(name) <= 63:
        raise InvalidValue("A bucket name is 3 to 63 characters long.")
    if not _BUCKET.match(name):
        raise InvalidValue(
            "A bucket name uses lowercase letters, digits, dots and hyphens, "
            "and starts and ends with a letter or digit."
        )
    if ".." in name or ".-" in name or "-." in name:
        raise InvalidValue(
            "A bucket name cannot have two dots, or a dot and a hyphen, side by side."
        )
    if _IPV4_LIKE.match(name):
        raise InvalidValue("A bucket name cannot look like an IP address.")
    if prefix := next((p for p in RESERVED_BUCKET_PREFIXES if name.startswith(p)), None):
        raise InvalidValue(f"A bucket name cannot start with '{prefix}': S3 reserves it.")
    if suffix := next((s for s in RESERVED_BUCKET_SUFFIXES if name.endswith(s)), None):
        raise InvalidValue(f"A bucket name cannot end with '{suffix}': S3 reserves it.")
    return name


def validate_prefix(prefix: str, *, wildcards: bool = False) -> str:
    """A key prefix names a folder: it is returned with a trailing '/' (or empty for the bucket).

    `*` and `?` are literal characters unless `wildcards` is set.
    """
    if not prefix:
        return ""
    if CONTROL_CHARACTERS.search(prefix):
        raise InvalidValue("A prefix cannot contain control characters (tabs, newlines, ...).")
    if prefix.startswith("-"):
        raise InvalidValue("A prefix cannot start with '-'.")
    if prefix.startswith("/"):
        raise InvalidValue("A prefix is relative to the bucket: remove the leading '/'.")
    if len(prefix) > MAX_KEY_LENGTH - 1:
        raise InvalidValue(f"A prefix is at most {MAX_KEY_LENGTH - 1} characters long.")
    segments = prefix.rstrip("/").split("/")
    if any(segment in (".", "..") for segment in segments):
        raise InvalidValue("A prefix cannot contain '.' or '..' segments.")
    if "" in segments:
        raise InvalidValue("A prefix cannot contain an empty segment ('//').")
    if wildcards and any(c in prefix for c in WILDCARD_CHARACTERS):
        return prefix
    return prefix if prefix.endswith("/") else prefix + "/"


def validate_patterns(patterns: Iterable[object]) -> list[str]:
    """Include/exclude globs in s5cmd's syntax: only `*` (any run, '/' too) and `?` are special."""
    if isinstance(patterns, str) or not isinstance(patterns, Iterable):
        raise InvalidValue("Give a list of patterns.")
    result = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise InvalidValue("A pattern cannot be empty.")
        if CONTROL_CHARACTERS.search(pattern):
            raise InvalidValue(f"The pattern {pattern!r} contains control characters.")
        if len(pattern) > MAX_KEY_LENGTH:
            raise InvalidValue(f"A pattern is at most {MAX_KEY_LENGTH} characters long.")
        result.append(pattern)
    if len(result) > MAX_PATTERNS:
        raise InvalidValue(f"At most {MAX_PATTERNS} patterns.")
    return result


def validate_local_path(path: str, roots: Iterable[str | os.PathLike]) -> str:
    """An absolute directory under one of `roots`, returned with symlinks resolved."""
    roots = [os.path.realpath(root) for root in roots]
    if not path:
        raise InvalidValue("Enter a local path.")
    if CONTROL_CHARACTERS.search(path):
        raise InvalidValue("A local path cannot contain control characters.")
    if not os.path.isabs(path):
        raise InvalidValue("A local path must be absolute (start with '/').")
    if ".." in path.split(os.sep):
        raise InvalidValue("A local path cannot contain '..'.")
    if not roots:
        raise InvalidValue("Local paths are disabled: the administrator has set no LOCAL_ROOTS.")
    real = os.path.realpath(path)
    if not any(real == root or real.startswith(root + os.sep) for root in roots):
        raise InvalidValue(f"{path} is outside the allowed local roots ({', '.join(roots)}).")
    return real


def validate_endpoint_url(
    url: str, *, allow_private: bool, require_resolution: bool = False
) -> str:
    """An http(s) URL of an S3 service; empty means AWS S3.

    Link-local and cloud-metadata addresses are always refused; private and loopback ones unless
    `allow_private`. A host name is checked on every address it resolves to. When it does not
    resolve, that is an error only with `require_resolution` (at run time): a profile may be
    defined before its endpoint's DNS exists.
    """
    if not url:
        return ""
    parts = _checked_http_url(
        url,
        "An endpoint URL",
        allow_path=False,
        allow_private=allow_private,
        require_resolution=require_resolution,
    )
    return f"{parts.scheme}://{parts.netloc}"


def validate_webhook_url(url: str, *, allow_private: bool, require_resolution: bool = False) -> str:
    """An http(s) URL the portal POSTs notifications to: the same address rules as endpoints
    (`validate_endpoint_url`), but with a path and query allowed."""
    if not url:
        raise InvalidValue("Enter the webhook's URL.")
    _checked_http_url(
        url,
        "A webhook URL",
        allow_path=True,
        allow_private=allow_private,
        require_resolution=require_resolution,
    )
    return url


def _checked_http_url(
    url: str, noun: str, *, allow_path: bool, allow_private: bool, require_resolution: bool
):
    """The parts of an http(s) URL with a host that may be used (`check_host`), no credentials
    and no fragment; `noun` ("An endpoint URL") starts the messages."""
    the = "The " + noun.split(" ", 1)[1]
    if CONTROL_CHARACTERS.search(url) or " " in url:
        raise InvalidValue(f"{noun} cannot contain spaces or control characters.")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        raise InvalidValue(f"{noun} is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidValue(f"{noun} starts with http:// or https://.")
    if parts.username or parts.password:
        raise InvalidValue(f"Do not put credentials in {the[0].lower()}{the[1:]}.")
    if parts.fragment or (parts.query and not allow_path):
        raise InvalidValue(
            f"{noun} has no {'fragment' if allow_path else 'query string or fragment'}."
        )
    if parts.path not in ("", "/") and not allow_path:
        raise InvalidValue(f"{noun} has no path: give only scheme, host and port.")
    try:
        port = parts.port
    except ValueError:
        raise InvalidValue(f"{the} has an invalid port.") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidValue(f"{the} needs a host name.")
    check_host(host, port, allow_private=allow_private, require_resolution=require_resolution)
    return parts


def check_host(host: str, port: int | None, *, allow_private: bool, require_resolution: bool):
    """Refuse metadata services, link-local addresses and (unless allowed) private networks,
    on every address the host resolves to."""
    if host in METADATA_HOSTS:
        raise InvalidValue(f"{host} is a cloud metadata service, never a place to connect to.")
    for address in _addresses(host, port, require_resolution):
        check_address(address, allow_private=allow_private)


def _addresses(host: str, port: int | None, require_resolution: bool) -> list:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        if require_resolution:
            raise InvalidValue(f"The host {host} does not resolve.") from None
        return []
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def check_address(address, *, allow_private: bool) -> None:
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES or address.is_link_local:
        raise InvalidValue(
            f"{address} is a link-local or cloud metadata address; the portal never uses one."
        )
    if address.is_multicast or address.is_unspecified:
        raise InvalidValue(f"{address} is not a usable endpoint address.")
    # Loopback, private, shared (CGNAT) and reserved ranges are all "not global".
    if not address.is_global and not allow_private:
        raise InvalidValue(
            f"{address} is on a private network; an administrator must allow private networks "
            "(ENDPOINT_ALLOW_PRIVATE_NETWORKS) first."
        )


def safe_local_target(root: str, key: str) -> str | None:
    """The file a key is written to under `root`, or None when the key could escape it.

    s5cmd writes whatever path it is given (#872), so every download target is checked here:
    no absolute keys, no '.', '..' or empty segments, no symlink on the way out of `root`.
    """
    if not key or key.startswith("/") or CONTROL_CHARACTERS.search(key):
        return None
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return None
    target = os.path.join(root, *segments)
    # The deepest part of the path that exists must still be inside the root once resolved.
    existing = target
    while existing != root and not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if existing == root:
        return target  # nothing of the path exists below the (validated) root yet
    if os.path.islink(existing):
        return None
    real = os.path.realpath(existing)
    if real != root and not real.startswith(root + os.sep):
        return None
    return target
