"""The S3 archive backend against real S3 servers on loopback (rclone serve s3, moto).

The storage contract itself is in ``test_archive_storage.py`` (run on both servers);
this module covers what S3 adds: configuration, checksums and multipart uploads,
Object Lock retention and legal holds, encryption, vendor errors, and auditor
retrieval and tamper detection through the ``archive`` commands.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from packetizer.archive import archive_packet, list_versions, open_storage, verify_version
from packetizer.archive.s3 import S3Settings, S3Storage, make_client, parse_location
from packetizer.cli.archive import archive
from packetizer.errors import NotFound, StorageError
from tests.support.s3_servers import ACCESS_KEY, free_port, set_aws_env

CASE = "RA-2026-0001"
PAYER = "demo-commercial"
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def add_version(storage, text: str = "one", created: str = "2026-11-23T10:00:00Z"):
    pdf = b"%PDF-1.7\n% " + text.encode() + b"\n%%EOF\n"
    manifest = {
        "case_id": CASE, "payer_id": PAYER, "created": created,
        "generator": {"name": "packetizer", "version": "0.1.0"},
        "packet": {"file_name": f"RETRO-AUTH_{PAYER}_{CASE}_2026-09-14.pdf", "sha256": sha(pdf),
                   "size": len(pdf), "pages": 5},
        "inputs": [], "disclosure": {}, "built_by": "billing1", "override": None,
    }
    extras = {"disclosure-report.json": b'{"withheld": []}\n', "disclosure-report.html": b"<p>report</p>\n"}
    return archive_packet(storage, pdf, manifest, extras), pdf


def storage_for(target, *, clock=None, **settings) -> S3Storage:
    """An S3Storage on ``target`` with settings from the environment, some replaced."""
    base = S3Settings.from_environ(target.location, os.environ)
    fields = {**base.__dict__, **settings}
    config = S3Settings(**fields)
    return S3Storage(config, client=make_client(config, os.environ), clock=clock)


def cli(*args: str):
    result = CliRunner().invoke(archive, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result


# -- configuration -------------------------------------------------------------------------------------------------

class TestConfiguration:
    """``s3://bucket/prefix`` and the PACKETIZER_S3_* variables become settings, or a clear error naming the variable."""

    def test_location_and_defaults(self):
        settings = S3Settings.from_environ("s3://archive-bucket/packets/prod/", {})
        assert (settings.bucket, settings.prefix, settings.endpoint_url) == ("archive-bucket", "packets/prod/", None)
        assert settings.retention_mode == "COMPLIANCE" and settings.retention_years == 7
        assert settings.sse is None and settings.kms_key_id is None
        assert settings.addressing_style == "auto"
        assert parse_location("s3://b12") == ("b12", "")

    def test_a_custom_endpoint_defaults_to_path_style(self):
        env = {"AWS_ENDPOINT_URL": "https://rgw.example.org:7480"}
        assert S3Settings.from_environ("s3://bkt", env).addressing_style == "path"
        assert S3Settings.from_environ("s3://bkt", {**env, "PACKETIZER_S3_PATH_STYLE": "false"}).addressing_style == "virtual"
        assert S3Settings.from_environ("s3://bkt", {"PACKETIZER_S3_PATH_STYLE": "1"}).addressing_style == "path"
        # The S3-specific variable wins over the general one, as in boto3.
        env["AWS_ENDPOINT_URL_S3"] = "http://minio.local:9000"
        assert S3Settings.from_environ("s3://bkt", env).endpoint_url == "http://minio.local:9000"

    def test_retention_and_encryption_settings(self):
        env = {"PACKETIZER_S3_RETENTION_MODE": "Governance", "PACKETIZER_S3_RETENTION_YEARS": "10",
               "PACKETIZER_S3_KMS_KEY_ID": "alias/packets"}
        settings = S3Settings.from_environ("s3://bkt", env)
        assert (settings.retention_mode, settings.retention_years) == ("GOVERNANCE", 10)
        assert (settings.sse, settings.kms_key_id) == ("aws:kms", "alias/packets")
        assert S3Settings.from_environ("s3://bkt", {"PACKETIZER_S3_RETENTION_MODE": "none"}).retention_mode is None
        assert S3Settings.from_environ("s3://bkt", {"PACKETIZER_S3_SSE": "aes256"}).sse == "AES256"

    @pytest.mark.parametrize("location, env, names", [
        ("s3://ab", {}, "bucket name"),
        ("s3://Bad Bucket/x", {}, "no credentials, query or spaces"),
        ("s3://key:secret@bucket/x", {}, "no credentials"),
        ("s3://bucket/../up", {}, "prefix"),
        ("s3://bucket/a//b", {}, "prefix"),
        ("s3://bucket", {"PACKETIZER_S3_RETENTION_MODE": "forever"}, "PACKETIZER_S3_RETENTION_MODE"),
        ("s3://bucket", {"PACKETIZER_S3_RETENTION_YEARS": "0"}, "PACKETIZER_S3_RETENTION_YEARS"),
        ("s3://bucket", {"PACKETIZER_S3_RETENTION_YEARS": "1000"}, "PACKETIZER_S3_RETENTION_YEARS"),
        ("s3://bucket", {"PACKETIZER_S3_RETENTION_YEARS": "7.5"}, "PACKETIZER_S3_RETENTION_YEARS"),
        ("s3://bucket", {"PACKETIZER_S3_SSE": "rot13"}, "PACKETIZER_S3_SSE"),
        ("s3://bucket", {"PACKETIZER_S3_SSE": "AES256", "PACKETIZER_S3_KMS_KEY_ID": "k"}, "PACKETIZER_S3_KMS_KEY_ID"),
        ("s3://bucket", {"PACKETIZER_S3_PATH_STYLE": "maybe"}, "PACKETIZER_S3_PATH_STYLE"),
        ("s3://bucket", {"AWS_ENDPOINT_URL": "ftp://host"}, "AWS_ENDPOINT_URL"),
        ("s3://bucket", {"AWS_ENDPOINT_URL": "http://user:pw@host"}, "must not contain credentials"),
    ])
    def test_bad_settings_are_refused_naming_the_problem(self, location, env, names):
        with pytest.raises(StorageError) as info:
            open_storage(location, environ=env)
        assert info.value.code == "bad_config"
        assert names in info.value.message
        assert "secret" not in info.value.message and "pw@" not in info.value.message

    def test_bad_settings_are_a_cli_error_without_traceback(self, tmp_path):
        result = CliRunner().invoke(archive, ["list", "--archive", "s3://bucket"],
                                    env={"PACKETIZER_S3_RETENTION_YEARS": "many"})
        assert result.exit_code == 1
        assert result.stderr.startswith("error: PACKETIZER_S3_RETENTION_YEARS is 'many'")


# -- integrity, layout, multipart -------------------------------------------------------------------------------------

def test_every_put_stores_our_sha256_checksum_under_the_prefix(moto_target):
    """This test ensures the store receives the object's SHA-256 with the write and keeps it."""
    storage = open_storage(moto_target.location)
    data = b"%PDF-1.7 checksum me"
    storage.put("p/2026/11/RA-1/x/packet.pdf", data, content_type="application/pdf")
    head = moto_target.client().head_object(Bucket=moto_target.bucket, Key="archive/p/2026/11/RA-1/x/packet.pdf",
                                            ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64sha(data)
    assert head["ContentType"] == "application/pdf"


def test_objects_outside_the_prefix_or_with_foreign_names_are_not_listed(rclone_target):
    raw = rclone_target.client()
    raw.put_object(Bucket=rclone_target.bucket, Key="elsewhere/p/x", Body=b"not ours")
    raw.put_object(Bucket=rclone_target.bucket, Key="archive/p/with space", Body=b"foreign")
    storage = open_storage(rclone_target.location)
    storage.put("p/a", b"ours", content_type="text/plain")
    assert list(storage.list("")) == ["p/a"]
    assert not storage.exists("elsewhere/p/x")


@pytest.mark.parametrize("target_name", ["moto_target", "rclone_target"])
def test_large_objects_go_up_in_parts_each_with_a_checksum(request, target_name):
    """This test ensures objects above the multipart threshold are uploaded in parts and read back whole."""
    target = request.getfixturevalue(target_name)
    storage = storage_for(target, multipart_threshold=5 * MIB, part_size=5 * MIB)
    data = os.urandom(11 * MIB + 3)
    result = storage.put("big/packet.pdf", data, content_type="application/pdf")
    assert (result.sha256, result.size, result.already_present) == (sha(data), len(data), False)
    assert storage.get("big/packet.pdf") == data
    head = target.client().head_object(Bucket=target.bucket, Key="archive/big/packet.pdf", ChecksumMode="ENABLED")
    if target_name == "moto_target":
        assert head["ETag"].strip('"').endswith("-3")  # three parts
        parts = [data[i:i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
        composite = base64.b64encode(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest())
        assert head["ChecksumSHA256"].split("-")[0] == composite.decode()
    # Identical again: a no-op; different: refused, even for multipart-sized objects.
    assert storage.put("big/packet.pdf", data, content_type="application/pdf").already_present
    with pytest.raises(StorageError) as info:
        storage.put("big/packet.pdf", data[:-1] + b"!", content_type="application/pdf")
    assert info.value.code == "exists"
    assert not target.client().list_multipart_uploads(Bucket=target.bucket).get("Uploads")


def test_a_store_that_changes_bytes_is_caught_by_the_read_back(rclone_target):
    """This test ensures a put is reported only after the stored bytes hash to what was sent."""

    class CorruptingClient:
        """Passes calls to the real client, flipping one byte of every object on its way in."""

        def __init__(self, client):
            self._client = client
            self.meta = client.meta

        def __getattr__(self, name):
            return getattr(self._client, name)

        def put_object(self, **kwargs):
            body = bytearray(kwargs.pop("Body"))
            body[0] ^= 0xFF
            kwargs.pop("ChecksumSHA256")  # the corrupt copy must not be caught by the server instead
            kwargs.pop("ChecksumAlgorithm")
            return self._client.put_object(Body=bytes(body), **kwargs)

    settings = S3Settings.from_environ(rclone_target.location, os.environ)
    storage = S3Storage(settings, client=CorruptingClient(make_client(settings, os.environ)))
    with pytest.raises(StorageError) as info:
        storage.put("p/packet.pdf", b"%PDF-1.7 original", content_type="application/pdf")
    assert info.value.code == "write_failed"
    assert info.value.message.startswith("archive object p/packet.pdf in S3 bucket")


# -- vendor errors -------------------------------------------------------------------------------------------------

def test_a_missing_object_is_not_found(rclone_target):
    storage = open_storage(rclone_target.location)
    with pytest.raises(NotFound) as info:
        storage.get("p/2026/11/RA-404/packet.pdf")
    assert info.value.message == f"no archived object p/2026/11/RA-404/packet.pdf in {storage.describe()}"


def test_a_missing_bucket_is_named(rclone_server, monkeypatch):
    set_aws_env(monkeypatch, rclone_server.endpoint)
    storage = open_storage("s3://no-such-bucket/archive")
    with pytest.raises(StorageError) as info:
        list(storage.list(""))
    assert info.value.code == "no_bucket"
    assert info.value.message == f"S3 bucket no-such-bucket does not exist at {rclone_server.endpoint}"
    with pytest.raises(StorageError) as info:
        storage.put("a/b", b"x", content_type="text/plain")
    assert info.value.code == "no_bucket"


def test_wrong_credentials_are_access_denied_and_never_echoed(rclone_target, monkeypatch):
    """This test ensures a signature the server rejects is reported as access denied, without the secret."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")
    storage = open_storage(rclone_target.location)
    for call in (lambda: list(storage.list("")), lambda: storage.get("a/b"), lambda: storage.exists("a/b"),
                 lambda: storage.put("a/b", b"x", content_type="text/plain")):
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.code == "access_denied"
        assert "access denied by S3" in info.value.message and rclone_target.bucket in info.value.message
        assert "wrong-secret-value" not in info.value.message and ACCESS_KEY not in info.value.message


def test_storages_opened_one_after_another_each_keep_their_own_credentials(rclone_target, monkeypatch):
    """This test ensures the service descriptions the clients share carry nothing of a client's own: opened in
    one process, a storage with the right secret writes, one with a wrong secret is denied, whichever came first."""
    right_secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    opened = []
    for secret in (right_secret, "wrong-secret-value", right_secret):
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        opened.append(open_storage(rclone_target.location))
    first, wrong, again = opened
    for number, storage in enumerate((first, again)):
        storage.put(f"own-credentials/{number}", b"x", content_type="text/plain")
        assert storage.get(f"own-credentials/{number}") == b"x"
    with pytest.raises(StorageError) as info:
        wrong.put("own-credentials/wrong", b"x", content_type="text/plain")
    assert info.value.code == "access_denied"
    assert not first.exists("own-credentials/wrong")


def test_a_process_that_opens_many_storages_does_not_grow_the_shared_loader(rclone_target):
    """This test ensures a long-running process (the web app opens the archive for each archive page) keeps one
    copy of each folder the shared service descriptions are read from, however many clients it makes."""
    from packetizer.archive import s3

    open_storage(rclone_target.location)
    paths = list(s3._loader.search_paths)
    for _ in range(20):
        open_storage(rclone_target.location)
    assert s3._loader.search_paths == paths and len(set(paths)) == len(paths)


def test_an_unreachable_endpoint_is_reported_quickly(monkeypatch):
    port = free_port()
    set_aws_env(monkeypatch, f"http://127.0.0.1:{port}")
    storage = open_storage("s3://bucket/archive")
    with pytest.raises(StorageError) as info:
        storage.exists("a/b")
    assert info.value.code == "unreachable"
    assert info.value.message.startswith(f"S3 endpoint http://127.0.0.1:{port} is unreachable")


def test_missing_credentials_say_how_to_provide_them(rclone_target, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = open_storage(rclone_target.location)
    with pytest.raises(StorageError) as info:
        storage.exists("a/b")
    assert info.value.code == "no_credentials"
    assert "AWS_ACCESS_KEY_ID" in info.value.message


# -- Object Lock: retention, legal hold, encryption ----------------------------------------------------------------------

def test_objects_in_an_object_lock_bucket_get_compliance_retention_for_seven_years(moto_target):
    """This test ensures every object of a version is written WORM: compliance mode, retained for the default years."""
    storage = storage_for(moto_target, clock=lambda: NOW)
    version, _ = add_version(storage)
    keys = list(storage.list(version.prefix))
    assert len(keys) == 4
    for key in keys:
        lock = storage.lock_status(key)
        assert lock.mode == "COMPLIANCE" and not lock.legal_hold
        assert lock.retain_until == dt.datetime(2033, 11, 23, 10, 0, tzinfo=dt.timezone.utc)


def test_retention_mode_and_years_are_configurable_also_for_multipart_objects(moto_target, monkeypatch):
    monkeypatch.setenv("PACKETIZER_S3_RETENTION_MODE", "governance")
    monkeypatch.setenv("PACKETIZER_S3_RETENTION_YEARS", "2")
    leap = dt.datetime(2028, 2, 29, 12, 0, tzinfo=dt.timezone.utc)
    storage = storage_for(moto_target, clock=lambda: leap, multipart_threshold=5 * MIB, part_size=5 * MIB)
    storage.put("small", b"x", content_type="text/plain")
    storage.put("large", os.urandom(6 * MIB), content_type="application/pdf")
    for key in ("small", "large"):
        lock = storage.lock_status(key)
        assert (lock.mode, lock.retain_until) == ("GOVERNANCE", dt.datetime(2030, 2, 28, 12, 0, tzinfo=dt.timezone.utc))


def test_no_retention_without_object_lock_or_when_switched_off(moto_plain_target, moto_target, monkeypatch):
    plain = open_storage(moto_plain_target.location)
    plain.put("a", b"x", content_type="text/plain")
    assert plain.lock_status("a").mode is None
    monkeypatch.setenv("PACKETIZER_S3_RETENTION_MODE", "none")
    locked = open_storage(moto_target.location)
    locked.put("a", b"x", content_type="text/plain")
    assert locked.lock_status("a") == type(locked.lock_status("a"))(mode=None, retain_until=None, legal_hold=False)


def test_a_locked_version_cannot_be_deleted_or_overwritten(moto_target):
    """This test ensures WORM is enforced by the store, not only by Packetizer: deleting the locked version is refused."""
    storage = open_storage(moto_target.location)
    version, pdf = add_version(storage)
    raw = moto_target.client()
    key = "archive/" + version.packet_key
    head = raw.head_object(Bucket=moto_target.bucket, Key=key)
    with pytest.raises(ClientError) as info:
        raw.delete_object(Bucket=moto_target.bucket, Key=key, VersionId=head["VersionId"])
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    # A plain PUT from elsewhere makes a new version; the locked one stays and is still retrievable.
    raw.put_object(Bucket=moto_target.bucket, Key=key, Body=b"forged", ChecksumAlgorithm="SHA256")
    original = raw.get_object(Bucket=moto_target.bucket, Key=key, VersionId=head["VersionId"])["Body"].read()
    assert original == pdf
    # ...and verify sees that the current version is not what was archived.
    problems = verify_version(storage, version)
    assert {p.key for p in problems} == {version.packet_key}
    assert problems[0].message.startswith(f"sha256 is {sha(b'forged')}")


def test_a_governance_locked_version_cannot_be_deleted_without_the_bypass(moto_target, monkeypatch):
    monkeypatch.setenv("PACKETIZER_S3_RETENTION_MODE", "governance")
    storage = open_storage(moto_target.location)
    storage.put("g/packet.pdf", b"%PDF governance", content_type="application/pdf")
    raw = moto_target.client()
    head = raw.head_object(Bucket=moto_target.bucket, Key="archive/g/packet.pdf")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as info:
        raw.delete_object(Bucket=moto_target.bucket, Key="archive/g/packet.pdf", VersionId=head["VersionId"])
    assert info.value.response["Error"]["Code"] == "AccessDenied"


def test_legal_hold_on_a_case_blocks_deletion_until_lifted(moto_target, monkeypatch):
    """This test ensures `archive hold CASE --on` holds every object of the case, and `--off` releases them."""
    monkeypatch.setenv("PACKETIZER_S3_RETENTION_MODE", "none")  # only the hold protects these objects
    storage = open_storage(moto_target.location)
    first, _ = add_version(storage, "one")
    second, _ = add_version(storage, "two", created="2026-11-24T10:00:00Z")
    result = cli("hold", CASE, "--on", "--archive", moto_target.location)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"legal hold on: {first.prefix} (4 objects)",
                                          f"legal hold on: {second.prefix} (4 objects)"]
    assert all(storage.lock_status(k).legal_hold for k in storage.list(""))
    raw = moto_target.client()
    key = "archive/" + first.packet_key
    version_id = raw.head_object(Bucket=moto_target.bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError):
        raw.delete_object(Bucket=moto_target.bucket, Key=key, VersionId=version_id)

    result = cli("hold", CASE, "--off", "--sha", first.sha256[:10], "--archive", moto_target.location)
    assert result.stdout.splitlines() == [f"legal hold off: {first.prefix} (4 objects)"]
    assert not any(storage.lock_status(k).legal_hold for k in storage.list(first.prefix))
    assert all(storage.lock_status(k).legal_hold for k in storage.list(second.prefix))
    raw.delete_object(Bucket=moto_target.bucket, Key=key, VersionId=version_id)  # no hold, no retention: allowed


def test_legal_hold_needs_object_lock(moto_plain_target):
    storage = open_storage(moto_plain_target.location)
    add_version(storage)
    result = cli("hold", CASE, "--on", "--archive", moto_plain_target.location)
    assert result.exit_code == 1
    assert result.stderr == (f"error: {storage.describe()} has no Object Lock; "
                             "legal holds need a bucket created with Object Lock\n")


@pytest.mark.parametrize("env, expected", [
    ({"PACKETIZER_S3_SSE": "AES256"}, {"ServerSideEncryption": "AES256"}),
    ({"PACKETIZER_S3_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/packets"},
     {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/packets"}),
])
def test_server_side_encryption_is_requested_on_every_write(moto_target, monkeypatch, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    storage = open_storage(moto_target.location)
    version, _ = add_version(storage)
    raw = moto_target.client()
    for key in storage.list(""):
        head = raw.head_object(Bucket=moto_target.bucket, Key="archive/" + key)
        assert {k: head.get(k) for k in expected} == expected


# -- auditor retrieval and tamper detection through the commands ----------------------------------------------------------

def test_auditor_lists_fetches_and_verifies_from_s3(rclone_target, monkeypatch, tmp_path):
    """This test ensures `archive list/get/verify` work unchanged on an S3 archive named by PACKETIZER_ARCHIVE."""
    monkeypatch.setenv("PACKETIZER_ARCHIVE", rclone_target.location)
    storage = open_storage(None)
    version, pdf = add_version(storage)
    listed = json.loads(cli("list", "--json").stdout)
    assert [(v["case_id"], v["sha256"], v["key"]) for v in listed] == [(CASE, version.sha256, version.prefix)]
    result = cli("get", CASE, "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / f"RETRO-AUTH_{PAYER}_{CASE}_2026-09-14.pdf").read_bytes() == pdf
    result = cli("verify", CASE)
    assert (result.exit_code, result.stdout) == (0, f"intact: {version.prefix}\n")


def test_bytes_changed_in_the_servers_folder_are_caught_by_verify(rclone_target, rclone_server, monkeypatch):
    """This test ensures tampering behind the S3 API (on the server's disk) makes `archive verify` exit 1 naming the object."""
    monkeypatch.setenv("PACKETIZER_ARCHIVE", rclone_target.location)
    storage = open_storage(None)
    version, pdf = add_version(storage)
    path = rclone_server.object_path(rclone_target.bucket, "archive/" + version.packet_key)
    assert path.read_bytes() == pdf
    altered = bytearray(pdf)
    altered[12] ^= 0x01
    path.write_bytes(bytes(altered))
    result = cli("verify", CASE)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"altered: {version.prefix}",
        f"  {version.packet_key}: sha256 is {sha(bytes(altered))}, the key and the manifest say {sha(pdf)}",
    ]
    assert result.stderr == f"error: 1 of 1 archived version(s) of case {CASE} differ from their manifest\n"
    # Retrieval refuses the altered packet too.
    assert cli("get", CASE, "--out", str(path.parent / "unused")).exit_code == 1


def test_the_unreachable_archive_is_a_clean_cli_error(monkeypatch):
    port = free_port()
    set_aws_env(monkeypatch, f"http://127.0.0.1:{port}")
    result = cli("verify", CASE, "--archive", "s3://bucket/archive")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: S3 endpoint http://127.0.0.1:{port} is unreachable")


def test_versions_archived_on_s3_list_like_local_ones(rclone_target):
    storage = open_storage(rclone_target.location)
    a, _ = add_version(storage, "one", "2026-11-23T10:00:00Z")
    b, _ = add_version(storage, "two", "2026-12-01T10:00:00Z")
    assert [v.prefix for v in list_versions(storage, case_id=CASE)] == [a.prefix, b.prefix]
    assert b.prefix.startswith(f"{PAYER}/2026/12/{CASE}/")
    again, _ = add_version(storage, "one", "2026-11-23T10:00:00Z")
    assert again.already_archived and again.prefix == a.prefix
