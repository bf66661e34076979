"""Local paths stay inside the administrator's roots: at validation, at run time, and for
every single key a download writes (s5cmd itself would follow a '..' out, #872)."""

from __future__ import annotations

import os

import pytest

from tests.transfers.support import file_hashes, hashes, put_objects
from transfers.engine import (
    InvalidValue,
    LocalLocation,
    Options,
    Outcome,
    Runtime,
    S3Location,
    TransferSpec,
    run_transfer,
)
from transfers.engine.validation import safe_local_target, validate_local_path


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    return root, tmp_path / "outside"


def test_a_local_path_must_be_inside_a_root(roots):
    root, outside = roots
    (root / "escape").symlink_to(outside)
    assert validate_local_path(str(root / "data"), [root]) == str(root / "data")
    for path, message in [
        (str(outside), "outside the allowed local roots"),
        (str(root / "escape"), "outside the allowed local roots"),  # a symlink out
        (str(root) + "/../outside", "cannot contain '..'"),
        ("relative/path", "must be absolute"),
    ]:
        with pytest.raises(InvalidValue, match=message):
            validate_local_path(path, [root])
    with pytest.raises(InvalidValue, match="no LOCAL_ROOTS"):
        validate_local_path(str(root), [])


def test_every_download_target_is_checked(roots):
    root, outside = roots
    (root / "link").symlink_to(outside)
    assert safe_local_target(str(root), "a/b.txt") == str(root / "a" / "b.txt")
    for key in ("../x", "a/../../x", "/etc/passwd", "a//b", "./a", "link/x", "new\nline"):
        assert safe_local_target(str(root), key) is None, key


def test_a_download_refuses_keys_that_would_escape(roots, s3_a):
    root, outside = roots
    client, bucket = s3_a.client(), s3_a.bucket()
    safe = {"ok/a.txt": b"a", "b.txt": b"b"}
    put_objects(client, bucket, {**safe, "../evil.txt": b"x", "ok/../../evil2.txt": b"y"})
    spec = TransferSpec(
        S3Location(s3_a.config(), bucket),
        LocalLocation(str(root / "download")),
        Options(mode="copy"),
        Runtime(allow_private_networks=True, local_roots=(str(root),)),
    )

    result = run_transfer(spec)

    assert result.outcome == Outcome.PARTIAL
    assert file_hashes(root / "download") == hashes(safe)
    assert sorted(f.key for f in result.failures) == ["../evil.txt", "ok/../../evil2.txt"]
    assert os.listdir(outside) == [] and sorted(os.listdir(root)) == ["download"]


def test_an_upload_does_not_follow_symlinks(roots, s3_a):
    root, outside = roots
    (outside / "secret.txt").write_bytes(b"not for upload")
    source = root / "upload"
    source.mkdir()
    (source / "real.txt").write_bytes(b"real")
    (source / "link.txt").symlink_to(outside / "secret.txt")
    (source / "dir-link").symlink_to(outside)
    client, bucket = s3_a.client(), s3_a.bucket()
    spec = TransferSpec(
        LocalLocation(str(source)),
        S3Location(s3_a.config(), bucket),
        Options(mode="copy"),
        Runtime(allow_private_networks=True, local_roots=(str(root),)),
    )

    result = run_transfer(spec)

    assert result.outcome == Outcome.SUCCEEDED, result.error
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["real.txt"]


def test_locations_are_checked_again_when_the_job_runs(roots, s3_a):
    """Settings and the file system may have changed since the profile was saved."""
    root, outside = roots
    spec = TransferSpec(
        S3Location(s3_a.config(), s3_a.bucket()),
        LocalLocation(str(root / "in")),
        Options(mode="copy"),
        Runtime(allow_private_networks=False, local_roots=(str(root),)),
    )
    result = run_transfer(spec)
    assert result.outcome == Outcome.FAILED
    assert "The source is not acceptable" in result.error and "private network" in result.error

    (root / "in").symlink_to(outside)  # swapped for a link out of the root
    spec = TransferSpec(
        S3Location(s3_a.config(), s3_a.bucket()),
        LocalLocation(str(root / "in")),
        Options(mode="copy"),
        Runtime(allow_private_networks=True, local_roots=(str(root),)),
    )
    result = run_transfer(spec)
    assert result.outcome == Outcome.FAILED
    assert "The destination is not acceptable" in result.error
    assert "outside the allowed local roots" in result.error
