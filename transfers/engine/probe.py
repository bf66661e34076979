"""Testing an endpoint: can we reach it, do its credentials work, can we list a bucket?"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from transfers.engine.errors import InvalidValue
from transfers.engine.locations import EndpointConfig, describe_error
from transfers.engine.validation import validate_endpoint_url

_DENIED = {"AccessDenied", "AllAccessDisabled", "403"}


@dataclass(frozen=True)
class EndpointCheck:
    reachable: bool
    authorised: bool
    bucket_listable: bool | None  # None when no bucket was named
    message: str

    @property
    def ok(self) -> bool:
        return self.reachable and self.authorised and self.bucket_listable is not False


def check_endpoint(
    endpoint: EndpointConfig, *, bucket: str = "", allow_private_networks: bool = False
) -> EndpointCheck:
    try:
        validate_endpoint_url(
            endpoint.url, allow_private=allow_private_networks, require_resolution=True
        )
    except InvalidValue as exc:
        return EndpointCheck(False, False, None, str(exc))
    client = endpoint.client(attempts=1)
    try:
        try:
            if bucket:
                client.list_objects_v2(Bucket=bucket, MaxKeys=1)
            else:
                client.list_buckets()
        except (EndpointConnectionError, BotoCoreError) as exc:
            if isinstance(exc, ClientError):
                raise
            return EndpointCheck(False, False, None, describe_error(exc, endpoint))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = describe_error(exc, endpoint, bucket)
            if code in _DENIED and bucket:
                # The keys may be fine but scoped to other buckets or without list rights.
                return EndpointCheck(True, True, False, message)
            if code in ("NoSuchBucket", "404"):
                return EndpointCheck(True, True, False, message)
            return EndpointCheck(True, False, None if not bucket else False, message)
    finally:
        client.close()
    if bucket:
        return EndpointCheck(
            True, True, True, f"{endpoint.display} is reachable and {bucket} is listable."
        )
    return EndpointCheck(
        True, True, None, f"{endpoint.display} is reachable and accepts the credentials."
    )
