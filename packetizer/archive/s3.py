"""The S3 archive backend: any S3-compatible store boto3 reaches (AWS S3, Ceph RGW, MinIO, Wasabi...).

Selected by ``PACKETIZER_ARCHIVE=s3://bucket/prefix``. The endpoint, credentials
and region come from boto3's own chain (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``,
``AWS_ACCESS_KEY_ID``...); the archive's own settings from ``PACKETIZER_S3_*``
(see :meth:`S3Settings.from_environ`).

Every write sends the object's SHA-256 (``x-amz-checksum-sha256``) and is read
back and hashed before it counts; nothing is ever overwritten (a check before the
write, and ``If-None-Match: *`` where the store honours it); where the bucket has
Object Lock every object gets a retention period. Vendor errors become
:class:`StorageError` / :class:`NotFound` with messages naming the bucket and key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bce
import botocore.session
from botocore.config import Config

from .. import __version__, limits
from ..errors import ErrorCode, NotFound, StorageError
from .storage import ObjectLock, PutResult, Storage, check_key, check_prefix, is_valid_key

log = logging.getLogger(__name__)

#: ``compliance`` (default), ``governance`` or ``none``: the retention mode of new objects when the bucket has Object Lock.
RETENTION_MODE_ENV = "PACKETIZER_S3_RETENTION_MODE"
#: Whole years each new object is retained (default :data:`DEFAULT_RETENTION_YEARS`).
RETENTION_YEARS_ENV = "PACKETIZER_S3_RETENTION_YEARS"
#: ``AES256`` or ``aws:kms``: server-side encryption requested on every write (default: the bucket's own).
SSE_ENV = "PACKETIZER_S3_SSE"
#: KMS key id or ARN for ``aws:kms`` (implies ``aws:kms`` when set alone).
KMS_KEY_ENV = "PACKETIZER_S3_KMS_KEY_ID"
#: ``true``: path-style URLs (``endpoint/bucket/key``); ``false``: virtual-hosted; unset: path-style
#: when a custom endpoint is configured, else boto3's choice.
PATH_STYLE_ENV = "PACKETIZER_S3_PATH_STYLE"

#: Six years is the HIPAA documentation retention; one more covers a payer audit started late.
DEFAULT_RETENTION_YEARS = 7
DEFAULT_RETENTION_MODE = "compliance"
RETENTION_MODES = {"compliance": "COMPLIANCE", "governance": "GOVERNANCE", "none": None}
SSE_MODES = {"aes256": "AES256", "aws:kms": "aws:kms", "none": None}

# boto3 reads these itself (AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL); we
# read them too, to describe the archive and to default to path-style addressing.
_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Bucket names as AWS allows them, plus the upper case and underscores older Ceph/MinIO buckets may have.
_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")

_DENIED_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
    "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem", "InvalidClientTokenId", "403", "Forbidden",
}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_UNREACHABLE = (
    bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError, bce.ConnectionClosedError,
    bce.ProxyConnectionError, bce.SSLError,
)
_NO_CREDENTIALS = (bce.NoCredentialsError, bce.PartialCredentialsError, bce.CredentialRetrievalError)
_READ_CHUNK = 1024 * 1024


def _bad_config(message: str) -> StorageError:
    return StorageError(message, code=ErrorCode.BAD_CONFIG)


def parse_location(location: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b/")``; ``s3://bucket`` -> ``("bucket", "")``.

    Raises:
        StorageError: code ``bad_config`` naming what is wrong (credentials in the
            URL are refused so they never reach a log).
    """
    scheme, sep, rest = location.partition("://")
    if not sep or scheme.lower() != "s3":
        raise _bad_config("an S3 archive location must look like s3://bucket/prefix")
    if any(ch in rest for ch in "?#@") or any(ch.isspace() for ch in rest):
        raise _bad_config("an S3 archive location is s3://bucket/prefix only: no credentials, query or spaces")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET_RE.match(bucket):
        raise _bad_config(f"S3 bucket name {bucket[:70]!r} is not valid (3-255 letters, digits, '.', '-', '_')")
    prefix = prefix.strip("/")
    if prefix:
        try:
            check_prefix(prefix + "/")
        except StorageError:
            raise _bad_config(f"S3 archive prefix {prefix[:70]!r} is not valid "
                              "(segments of letters, digits, '.', '-', '_', not starting with '.')") from None
        prefix += "/"
    return bucket, prefix


def _endpoint(environ: Mapping[str, str]) -> str | None:
    for name in _ENDPOINT_ENVS:
        value = environ.get(name, "").strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _bad_config(f"{name} must be an http(s) URL")
            if parts.username or parts.password:
                raise _bad_config(f"{name} must not contain credentials")
            return value
    return None


def _choice(environ: Mapping[str, str], name: str, choices: Mapping[str, Any], default: str) -> Any:
    raw = environ.get(name, "").strip()
    value = raw.lower() or default
    if value not in choices:
        allowed = ", ".join(sorted(choices))
        raise _bad_config(f"{name} is {raw[:40]!r}; use one of: {allowed}")
    return choices[value]


@dataclass(frozen=True)
class S3Settings:
    """Where and how the S3 archive writes.

    Attributes:
        bucket: The bucket.
        prefix: Key prefix inside the bucket, ``""`` or ending in ``/``.
        endpoint_url: Custom endpoint (Ceph, MinIO...), None for AWS.
        addressing_style: ``path``, ``virtual`` or ``auto`` (botocore's choice).
        retention_mode: ``COMPLIANCE``, ``GOVERNANCE`` or None; applied only when the bucket has Object Lock.
        retention_years: Whole years of retention from the time of writing.
        sse: ``AES256``, ``aws:kms`` or None (the bucket's default encryption).
        kms_key_id: KMS key for ``aws:kms``, or None for the account's default key.
        multipart_threshold: Objects larger than this are uploaded in parts.
        part_size: Size of each part but the last.
        conditional_writes: Send ``If-None-Match: *``; turned off for stores that refuse the header.
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    addressing_style: str = "auto"
    retention_mode: str | None = "COMPLIANCE"
    retention_years: int = DEFAULT_RETENTION_YEARS
    sse: str | None = None
    kms_key_id: str | None = None
    multipart_threshold: int = limits.S3_MULTIPART_THRESHOLD_BYTES
    part_size: int = limits.S3_MULTIPART_PART_BYTES
    conditional_writes: bool = True

    def __post_init__(self) -> None:
        if self.part_size < limits.S3_MIN_PART_BYTES:
            raise _bad_config(f"S3 part size {self.part_size} < S3_MIN_PART_BYTES {limits.S3_MIN_PART_BYTES}")
        if not 1 <= self.retention_years <= limits.MAX_S3_RETENTION_YEARS:
            raise _bad_config(f"{RETENTION_YEARS_ENV} must be a whole number from 1 to {limits.MAX_S3_RETENTION_YEARS}")

    @classmethod
    def from_environ(cls, location: str, environ: Mapping[str, str]) -> S3Settings:
        """Settings for ``location`` (``s3://bucket/prefix``) from ``PACKETIZER_S3_*`` and the endpoint variables.

        Raises:
            StorageError: code ``bad_config`` naming the variable and the problem.
        """
        bucket, prefix = parse_location(location)
        endpoint = _endpoint(environ)
        style = _choice(environ, PATH_STYLE_ENV, {**{v: "path" for v in _TRUE}, **{v: "virtual" for v in _FALSE},
                                                  "auto": "auto"}, "auto")
        if style == "auto" and endpoint:
            style = "path"  # Ceph, MinIO and test servers rarely have wildcard DNS for bucket hostnames
        mode = _choice(environ, RETENTION_MODE_ENV, RETENTION_MODES, DEFAULT_RETENTION_MODE)
        years_raw = environ.get(RETENTION_YEARS_ENV, "").strip() or str(DEFAULT_RETENTION_YEARS)
        if not years_raw.isdigit() or not 1 <= int(years_raw) <= limits.MAX_S3_RETENTION_YEARS:
            raise _bad_config(f"{RETENTION_YEARS_ENV} is {years_raw[:20]!r}; "
                              f"use a whole number from 1 to {limits.MAX_S3_RETENTION_YEARS}")
        kms_key = environ.get(KMS_KEY_ENV, "").strip() or None
        sse = _choice(environ, SSE_ENV, SSE_MODES, "aws:kms" if kms_key else "none")
        if kms_key and sse != "aws:kms":
            raise _bad_config(f"{KMS_KEY_ENV} needs {SSE_ENV}=aws:kms (it is {sse or 'none'})")
        return cls(bucket=bucket, prefix=prefix, endpoint_url=endpoint, addressing_style=style,
                   retention_mode=mode, retention_years=int(years_raw), sse=sse, kms_key_id=kms_key)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _add_years(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February -> 28 February
        return when.replace(year=when.year + years, day=28)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _error_code(exc: bce.ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {}) or {}
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
    return str(error.get("Code") or status), int(status)


def make_client(settings: S3Settings, environ: Mapping[str, str]) -> Any:
    """A boto3 S3 client for ``settings``: our timeouts and retries, our own checksums only."""
    options: dict[str, Any] = {
        "s3": {"addressing_style": settings.addressing_style},
        "connect_timeout": limits.S3_CONNECT_TIMEOUT_SECONDS,
        "read_timeout": limits.S3_READ_TIMEOUT_SECONDS,
        # We send our own SHA-256 on every write and hash every read ourselves;
        # botocore's automatic CRC32 would only add a second, weaker checksum.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "user_agent_extra": f"packetizer/{__version__}",
    }
    if not (environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_MAX_ATTEMPTS")):
        options["retries"] = {"max_attempts": limits.S3_MAX_ATTEMPTS, "mode": "standard"}
    try:
        session = _boto3_session(
            aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
            region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
            profile_name=environ.get("AWS_PROFILE") or None,
        )
        return session.client("s3", endpoint_url=settings.endpoint_url, config=Config(**options))
    except bce.ProfileNotFound:
        raise _bad_config("AWS_PROFILE names a profile that is not in the AWS config files") from None
    except bce.BotoCoreError as exc:
        raise _bad_config(f"the AWS configuration could not be used ({type(exc).__name__})") from None


_loader_lock = threading.Lock()
_loader: Any = None


def _boto3_session(**credentials: Any) -> boto3.session.Session:
    """A new boto3 session (credentials and region are each client's own) that reads the service
    descriptions through the process's one loader, which keeps what it has read.

    A session of its own loads botocore's JSON descriptions of S3 and of every endpoint again: 0.2 s of CPU
    for each client made, against 0.03 s with the shared loader. The first session's loader is the one kept, so
    ``AWS_DATA_PATH`` counts as it did when the first client was made.
    """
    global _loader
    core = botocore.session.Session()
    with _loader_lock:
        if _loader is not None:
            core.register_component("data_loader", _loader)
        session = boto3.session.Session(botocore_session=core, **credentials)
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:   # each boto3 session adds its data folder to the loader's: once is enough
            paths = _loader.search_paths
            paths[:] = list(dict.fromkeys(paths))
    return session


class S3Storage(Storage):
    """Write-once archive objects in an S3 bucket under an optional key prefix.

    Safe to share between threads (boto3 clients are thread-safe); the only state
    is what was learnt about the bucket (Object Lock on or off, conditional writes honoured).
    """

    def __init__(self, settings: S3Settings, *, client: Any = None,
                 clock: Callable[[], dt.datetime] | None = None):
        """Args:
            settings: Bucket, prefix and write options.
            client: A boto3 S3 client; by default one is made from the standard AWS chain.
            clock: Returns the current UTC time (retention dates); for tests.
        """
        self.settings = settings
        self._clock = clock or _utcnow
        self._client = client if client is not None else make_client(settings, {})
        # Ask for the stored checksum on every GET, so bytes and checksum come from one
        # response. Sent as a plain header, not ChecksumMode: botocore then leaves the
        # body unwrapped and the comparison to us (its wrapper breaks on 5xx replies).
        self._client.meta.events.register("before-sign.s3.GetObject", _ask_for_checksum,
                                          unique_id="packetizer-checksum-mode")
        self._object_lock: bool | None = None
        self._conditional = settings.conditional_writes

    @classmethod
    def from_location(cls, location: str, *, environ: Mapping[str, str]) -> S3Storage:
        """Open ``s3://bucket/prefix`` with settings from ``environ`` (see :meth:`S3Settings.from_environ`).

        Credentials, profile and region named in ``environ`` are used; anything
        not named there comes from boto3's standard chain.
        """
        settings = S3Settings.from_environ(location, environ)
        return cls(settings, client=make_client(settings, environ))

    # -- description and errors -------------------------------------------------

    def __repr__(self) -> str:
        return f"S3Storage({self.describe()!r})"

    def describe(self) -> str:
        s = self.settings
        where = f"S3 bucket {s.bucket}"
        if s.prefix:
            where += f" prefix {s.prefix}"
        if s.endpoint_url:
            parts = urlsplit(s.endpoint_url)
            where += f" at {parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        return where

    def _full(self, key: str) -> str:
        return self.settings.prefix + key

    def _error(self, exc: Exception, action: str, key: str | None = None) -> StorageError:
        """Turn a boto3/botocore error into a project error whose message is safe to show.

        Messages name the bucket, the key and the vendor's error code; never
        credentials, and never the vendor's free-text message.
        """
        s = self.settings
        target = f"{key} in bucket {s.bucket}" if key else f"bucket {s.bucket}"
        if isinstance(exc, _NO_CREDENTIALS):
            return StorageError(
                f"no AWS credentials to {action} {target}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE, or another source of the standard AWS credential chain",
                code=ErrorCode.NO_CREDENTIALS,
            )
        if isinstance(exc, _UNREACHABLE):
            where = s.endpoint_url or f"of bucket {s.bucket}"
            return StorageError(f"S3 endpoint {where} is unreachable or not answering ({type(exc).__name__}); "
                                f"could not {action} {target}", code=ErrorCode.UNREACHABLE)
        if isinstance(exc, bce.ClientError):
            code, status = _error_code(exc)
            if code == "NoSuchBucket":
                return StorageError(f"S3 bucket {s.bucket} does not exist"
                                    + (f" at {s.endpoint_url}" if s.endpoint_url else ""), code=ErrorCode.NO_BUCKET)
            if code in _DENIED_CODES or status == 403:
                return StorageError(f"access denied by S3 ({code}) to {action} {target}: "
                                    "check the credentials and the bucket policy", code=ErrorCode.ACCESS_DENIED)
            if code in _MISSING_CODES or status == 404:
                return NotFound(f"no archived object {key} in {self.describe()}" if key
                                else f"S3 {target} was not found")
            return StorageError(f"S3 refused to {action} {target}: {code} (HTTP {status})", code=ErrorCode.S3_ERROR)
        # Any other botocore failure (a broken response stream, a bad parameter): name its type only.
        return StorageError(f"S3 client error ({type(exc).__name__}) trying to {action} {target}",
                            code=ErrorCode.S3_ERROR)

    # -- bucket facts ----------------------------------------------------------

    def object_lock_enabled(self) -> bool:
        """Whether the bucket has Object Lock (asked once, then remembered)."""
        if self._object_lock is None:
            try:
                reply = self._client.get_object_lock_configuration(Bucket=self.settings.bucket)
                config = reply.get("ObjectLockConfiguration") or {}
                self._object_lock = config.get("ObjectLockEnabled") == "Enabled"
            except bce.ClientError as exc:
                code, status = _error_code(exc)
                if code == "NoSuchBucket" or code in _DENIED_CODES or status == 403:
                    raise self._error(exc, "read the Object Lock configuration of") from None
                # ObjectLockConfigurationNotFoundError, NotImplemented (stores without Object Lock)...
                self._object_lock = False
            except bce.BotoCoreError as exc:
                raise self._error(exc, "read the Object Lock configuration of") from None
            if not self._object_lock and self.settings.retention_mode:
                log.info("%s has no Object Lock: objects are written without a retention period", self.describe())
        return self._object_lock

    def _write_args(self, content_type: str) -> dict[str, Any]:
        """Arguments every new object is created with: type, encryption, retention."""
        s = self.settings
        args: dict[str, Any] = {"ContentType": content_type}
        if s.sse:
            args["ServerSideEncryption"] = s.sse
            if s.kms_key_id:
                args["SSEKMSKeyId"] = s.kms_key_id
        if s.retention_mode and self.object_lock_enabled():
            args["ObjectLockMode"] = s.retention_mode
            args["ObjectLockRetainUntilDate"] = _add_years(self._clock().astimezone(dt.timezone.utc),
                                                           s.retention_years)
        return args

    # -- the Storage interface --------------------------------------------------

    def put(self, key: str, data: bytes, *, content_type: str) -> PutResult:
        key = check_key(key)
        data = bytes(data)
        digest = hashlib.sha256(data).digest()
        full = self._full(key)
        if self._head(key) is not None:  # stores that ignore If-None-Match rely on this check
            return self._compare_existing(key, data, digest)
        args = self._write_args(content_type)
        try:
            if len(data) > self.settings.multipart_threshold:
                expected = self._put_multipart(key, data, args)
            else:
                expected = self._put_single(key, data, digest, args)
        except _AlreadyThere:
            # A concurrent writer created the key between our check and our write.
            return self._compare_existing(key, data, digest)
        self._read_back(key, data, digest, expected)
        if "ObjectLockMode" in args:
            self._ensure_retention(key, args)
        log.info("archived object %s (%d bytes) to %s", full, len(data), self.describe())
        return PutResult(key=key, sha256=digest.hex(), size=len(data), already_present=False)

    def get(self, key: str) -> bytes:
        key = check_key(key)
        try:
            reply = self._client.get_object(Bucket=self.settings.bucket, Key=self._full(key))
            return reply["Body"].read()
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "read", key) from None

    def exists(self, key: str) -> bool:
        return self._head(check_key(key)) is not None

    def list(self, prefix: str = "") -> Iterator[str]:
        prefix = check_prefix(prefix)
        strip = len(self.settings.prefix)
        keys: set[str] = set()
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=self.settings.prefix + prefix)
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][strip:]
                    if is_valid_key(key):  # foreign objects could never be fetched by key
                        keys.add(key)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "list") from None
        # A set: rclone serve s3 can list a key twice just after concurrent writes to it.
        return iter(sorted(keys))

    def lock_status(self, key: str) -> ObjectLock:
        key = check_key(key)
        head = self._head(key)
        if head is None:
            raise NotFound(f"no archived object {key} in {self.describe()}")
        hold = head.get("ObjectLockLegalHoldStatus")
        if hold is None and self.object_lock_enabled():
            # Some stores (and AWS without s3:GetObjectLegalHold on HEAD) leave it out of HEAD.
            try:
                reply = self._client.get_object_legal_hold(Bucket=self.settings.bucket, Key=self._full(key))
                hold = (reply.get("LegalHold") or {}).get("Status")
            except bce.ClientError as exc:
                code, status = _error_code(exc)
                if code in _DENIED_CODES or status == 403 or code == "NoSuchBucket":
                    raise self._error(exc, "read the legal hold of", key) from None
                hold = None  # NoSuchObjectLockConfiguration: never held
            except bce.BotoCoreError as exc:
                raise self._error(exc, "read the legal hold of", key) from None
        until = head.get("ObjectLockRetainUntilDate")
        if isinstance(until, dt.datetime):
            until = until.astimezone(dt.timezone.utc)
        return ObjectLock(mode=head.get("ObjectLockMode"), retain_until=until, legal_hold=hold == "ON")

    def set_legal_hold(self, key: str, on: bool) -> None:
        key = check_key(key)
        try:
            self._client.put_object_legal_hold(Bucket=self.settings.bucket, Key=self._full(key),
                                               LegalHold={"Status": "ON" if on else "OFF"})
        except bce.ClientError as exc:
            code, _status = _error_code(exc)
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "InvalidRequest" and "ObjectLock" in message.replace(" ", ""):
                raise StorageError(
                    f"{self.describe()} has no Object Lock; legal holds need a bucket created with Object Lock",
                    code=ErrorCode.UNSUPPORTED) from None
            raise self._error(exc, "set the legal hold of", key) from None
        except bce.BotoCoreError as exc:
            raise self._error(exc, "set the legal hold of", key) from None
        log.info("legal hold %s on %s in %s", "placed" if on else "lifted", self._full(key), self.describe())

    # -- writing -----------------------------------------------------------------

    def _head(self, key: str) -> dict | None:
        try:
            return self._client.head_object(Bucket=self.settings.bucket, Key=self._full(key))
        except bce.ClientError as exc:
            code, status = _error_code(exc)
            if (code in _MISSING_CODES or status == 404) and code != "NoSuchBucket":
                return None
            raise self._error(exc, "look up", key) from None
        except bce.BotoCoreError as exc:
            raise self._error(exc, "look up", key) from None

    def _conditional_call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        """Call a creating method with ``If-None-Match: *``, dropping the header if the store refuses it."""
        if self._conditional:
            try:
                return method(IfNoneMatch="*", **kwargs)
            except bce.ClientError as exc:
                code, status = _error_code(exc)
                if code in _CONFLICT_CODES or status in (409, 412):
                    raise _AlreadyThere() from None
                if code != "NotImplemented" and status != 501:
                    raise
                # Older Ceph/MinIO: no conditional writes; the check before the write remains.
                log.warning("%s does not support conditional writes; relying on a check before each write",
                            self.describe())
                self._conditional = False
        return method(**kwargs)

    def _put_single(self, key: str, data: bytes, digest: bytes, args: dict[str, Any]) -> str:
        try:
            self._conditional_call(
                self._client.put_object, Bucket=self.settings.bucket, Key=self._full(key), Body=data,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(digest), **args)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "write", key) from None
        return _b64(digest)

    def _part_size(self, size: int) -> int:
        part = self.settings.part_size
        while -(-size // part) > limits.S3_MAX_PARTS:  # very large objects: grow parts, never exceed the part count
            part *= 2
        return part

    def _put_multipart(self, key: str, data: bytes, args: dict[str, Any]) -> str:
        """Upload in parts, each with its SHA-256; returns the composite checksum S3 should store."""
        bucket, full = self.settings.bucket, self._full(key)
        try:
            upload = self._client.create_multipart_upload(Bucket=bucket, Key=full, ChecksumAlgorithm="SHA256", **args)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "start a multipart upload of", key) from None
        upload_id = upload["UploadId"]
        try:
            size = self._part_size(len(data))
            view = memoryview(data)
            parts, digests = [], []
            for number, start in enumerate(range(0, len(data), size), start=1):
                chunk = bytes(view[start:start + size])
                digest = hashlib.sha256(chunk).digest()
                reply = self._client.upload_part(
                    Bucket=bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=chunk,
                    ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(digest))
                parts.append({"PartNumber": number, "ETag": reply["ETag"], "ChecksumSHA256": _b64(digest)})
                digests.append(digest)
            self._conditional_call(self._client.complete_multipart_upload, Bucket=bucket, Key=full,
                                   UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException as exc:
            self._abort(full, upload_id)
            if isinstance(exc, (bce.ClientError, bce.BotoCoreError)):
                raise self._error(exc, "write", key) from None
            raise
        return f"{_b64(hashlib.sha256(b''.join(digests)).digest())}-{len(parts)}"

    def _abort(self, full: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self.settings.bucket, Key=full, UploadId=upload_id)
        except (bce.ClientError, bce.BotoCoreError):
            # The store expires abandoned uploads; the object was never created.
            log.warning("could not abort multipart upload of %s in %s", full, self.describe())

    def _hash_stored(self, key: str) -> tuple[str, int, str | None]:
        """(sha256 hex, size, stored ChecksumSHA256 or None) of the stored object, streamed from one GET."""
        try:
            reply = self._client.get_object(Bucket=self.settings.bucket, Key=self._full(key))
            hasher, size = hashlib.sha256(), 0
            for chunk in reply["Body"].iter_chunks(_READ_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "read back", key) from None
        return hasher.hexdigest(), size, reply.get("ChecksumSHA256")

    def _hash_present(self, key: str, when: str) -> tuple[str, int, str | None]:
        """:meth:`_hash_stored` of an object that should be there.

        On a store that ignores If-None-Match, a concurrent writer's upload can
        replace the file non-atomically: for a moment there is none. A few more
        looks (0.75 s in all), then the write counts as failed, never as "not found".
        """
        for pause in (*_GONE_PAUSES, None):
            try:
                return self._hash_stored(key)
            except StorageError as exc:
                if exc.code != ErrorCode.NOT_FOUND:
                    raise
            if pause is not None:
                time.sleep(pause)
        raise StorageError(f"archive object {key} in {self.describe()} was gone when {when}",
                           code=ErrorCode.WRITE_FAILED)

    def _compare_existing(self, key: str, data: bytes, digest: bytes) -> PutResult:
        stored_sha, size, _ = self._hash_present(key, "compared with the packet being archived")
        if stored_sha != digest.hex() or size != len(data):
            raise StorageError(f"archive object {key} already exists with different content", code=ErrorCode.EXISTS)
        return PutResult(key=key, sha256=stored_sha, size=size, already_present=True)

    def _read_back(self, key: str, data: bytes, digest: bytes, expected_checksum: str) -> None:
        """Hash what the store now holds; raise unless bytes and stored checksum are what we sent.

        ``expected_checksum`` is what S3 keeps for our upload: the SHA-256, or for
        a multipart upload the SHA-256 of the parts' SHA-256s with ``-<parts>``.
        Stores that keep a whole-object SHA-256 for multipart uploads are accepted too.
        """
        stored_sha, size, stored_checksum = self._hash_present(key, "read back after writing")
        if stored_sha == digest.hex() and size == len(data):
            accepted = {expected_checksum.split("-")[0], _b64(digest)}
            if stored_checksum and stored_checksum.split("-")[0] not in accepted:
                raise StorageError(f"archive object {key} in {self.describe()} was stored with checksum "
                                   f"{stored_checksum}, expected {expected_checksum}", code=ErrorCode.WRITE_FAILED)
            return
        # Different bytes. On a store that ignores If-None-Match a concurrent writer may
        # have replaced ours: its object is whole (bytes match the checksum it sent).
        if stored_checksum and "-" not in stored_checksum:
            if base64.b64decode(stored_checksum).hex() == stored_sha:
                raise StorageError(f"archive object {key} already exists with different content", code=ErrorCode.EXISTS)
        raise StorageError(f"archive object {key} in {self.describe()} did not read back as written",
                           code=ErrorCode.WRITE_FAILED)

    def _ensure_retention(self, key: str, args: dict[str, Any]) -> None:
        """Make sure the retention asked for at creation is on the object (some stores drop it on multipart)."""
        head = self._head(key) or {}
        if head.get("ObjectLockMode"):
            return
        target = {"Bucket": self.settings.bucket, "Key": self._full(key)}
        if head.get("VersionId"):
            target["VersionId"] = head["VersionId"]
        retention = {"Mode": args["ObjectLockMode"], "RetainUntilDate": args["ObjectLockRetainUntilDate"]}
        try:
            self._client.put_object_retention(Retention=retention, **target)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "set the retention of", key) from None


def _ask_for_checksum(request: Any, **_kwargs: Any) -> None:
    request.headers["x-amz-checksum-mode"] = "ENABLED"


_GONE_PAUSES = (0.05, 0.1, 0.2, 0.4)   # seconds between looks at an object a racing writer is replacing


class _AlreadyThere(Exception):
    """A conditional write found the key taken."""
