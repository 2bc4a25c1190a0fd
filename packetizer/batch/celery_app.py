"""Scale-out on Celery: one task per case, inputs and outputs through the archive backend.

The dispatcher (``packetizer batch --engine celery``) uploads each case's
bundle (the case as JSON, its attachments and its payer policy, content-
addressed) to storage under ``_batch-inputs/`` and sends a task that carries
only storage keys, never patient data. A worker (``packetizer worker``, on any
machine that reaches the broker and the storage) downloads the bundle, builds
and archives the packet, and returns its key, SHA-256 and page count; the
dispatcher then fetches the packet and its disclosure report from the archive,
checked against the archived manifest, into the batch's output folder.

Configuration (read when an app is created, never at import):

* ``PACKETIZER_BROKER_URL``: ``redis://host:6379/0`` or ``amqp://user:pass@host//``.
* ``PACKETIZER_RESULT_BACKEND``: default the broker URL for Redis, else ``rpc://``.
* ``PACKETIZER_QUEUE``: queue name (default ``packetizer``).
* ``PACKETIZER_ARCHIVE``: the archive every worker and the dispatcher share (S3 in production).
* ``PACKETIZER_BATCH_INPUTS``: where bundles go, default the archive. Bundles hold the full
  case (withheld fields too: redaction needs them), so point this at a bucket with a
  lifecycle rule that expires them, and without Object Lock.

Transient failures (storage, network, broker) are retried with back-off up to
``MAX_BATCH_TASK_RETRIES``; bad input is reported at once and never retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from celery import Celery
from celery.result import AsyncResult, ResultSet

from .. import limits
from ..archive import ArchivedVersion, PacketArchive, Storage, default_spool_dir, open_storage, retrieve_version
from ..caseio import case_from_mapping, resolve_inside
from ..errors import ErrorCode, IntegrityError, PacketizerError, PolicyBlock, StorageError
from ..pipeline import build_packet
from ..policy import load_policy_file
from ..private import create_file, make_dirs
from ..workfolders import WorkFolder
from .jobs import Job, Outcome, block_problems, unexpected
from .report import replace_file

log = logging.getLogger(__name__)

BROKER_ENV = "PACKETIZER_BROKER_URL"
RESULT_ENV = "PACKETIZER_RESULT_BACKEND"
QUEUE_ENV = "PACKETIZER_QUEUE"
INPUTS_ENV = "PACKETIZER_BATCH_INPUTS"
DEFAULT_QUEUE = "packetizer"
TASK_NAME = "packetizer.build_case"
#: A web app's build or preview job (:mod:`packetizer.batch.casejob`): its id and settings, no patient data.
WEB_JOB_TASK = "packetizer.web_job"
#: Payer ids start with a letter or digit, so this prefix never meets the archive's own keys.
INPUT_PREFIX = "_batch-inputs"
BUNDLE_VERSION = 1
RETRY_BASE_SECONDS = 2
_PUBLISH_RETRY = {"max_retries": 5, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 5.0}
# Storage errors that no retry can fix: the request itself is wrong.
_PERMANENT_STORAGE_CODES = frozenset({ErrorCode.BAD_KEY, ErrorCode.BAD_MANIFEST, ErrorCode.BAD_ID, ErrorCode.EXISTS,
                                      ErrorCode.UNSUPPORTED, ErrorCode.INTEGRITY})
_REPORT_NAMES = {"disclosure-report.json": ".disclosure.json", "disclosure-report.html": ".disclosure.html"}


def create_app(broker_url: str | None = None, *, result_backend: str | None = None,
               environ: Mapping[str, str] | None = None) -> Celery:
    """A Celery app with the build task registered, configured from arguments or ``PACKETIZER_*``.

    Raises:
        PacketizerError: code ``config`` when no broker is named.
    """
    env = os.environ if environ is None else environ
    broker = broker_url or env.get(BROKER_ENV)
    if not broker:
        raise PacketizerError(f"the Celery engine needs a broker: set {BROKER_ENV} "
                              "(e.g. redis://127.0.0.1:6379/0)", code=ErrorCode.CONFIG)
    backend = result_backend or env.get(RESULT_ENV) or (
        broker if broker.startswith(("redis://", "rediss://")) else "rpc://")
    app = Celery("packetizer", broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_default_queue=queue_name(env),
        # A task is acknowledged only when done: a machine that dies mid-build loses nothing.
        task_acks_late=True, worker_prefetch_multiplier=1,
        task_time_limit=limits.MAX_BATCH_TASK_SECONDS,
        worker_max_tasks_per_child=limits.BATCH_WORKER_MAX_BUILDS,
        worker_max_memory_per_child=limits.MAX_WORKER_RSS_BYTES // 1024,
        result_expires=dt.timedelta(days=1),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    # Where this machine keeps a packet it could not archive at once ($PACKETIZER_SPOOL, else the
    # default spool): `packetizer archive retry` on this machine archives it later.
    app.conf.packetizer_spool = str(default_spool_dir(env))
    app.task(name=TASK_NAME, bind=True, max_retries=limits.MAX_BATCH_TASK_RETRIES)(build_case_task)
    app.task(name=WEB_JOB_TASK, ignore_result=True)(web_job_task)
    return app


def queue_name(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(QUEUE_ENV) or DEFAULT_QUEUE


def inputs_location(archive: str, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(INPUTS_ENV) or archive


# ---------------------------------------------------------------- the worker side


def build_case_task(task, request: dict) -> dict:
    """The Celery task: build one case from its bundle; retried on transient errors only."""
    try:
        return build_from_bundle(request, spool=Path(task.app.conf.packetizer_spool))
    except (StorageError, OSError) as exc:
        if isinstance(exc, StorageError) and exc.code in _PERMANENT_STORAGE_CODES:
            return {"problems": [[None, exc.message]]}
        message = exc.message if isinstance(exc, StorageError) else (exc.strerror or type(exc).__name__)
        if task.request.retries >= task.max_retries:
            return {"problems": [[None, f"gave up after {task.max_retries + 1} tries: {message}"]]}
        log.warning("case bundle %s: transient error (%s); retrying", request.get("bundle"), type(exc).__name__)
        raise task.retry(countdown=RETRY_BASE_SECONDS * 2 ** task.request.retries, exc=None)


def web_job_task(job_id: int, settings: dict) -> None:
    """The Celery task of a web job: run it against the registry and instance folder the web app shares."""
    from .casejob import run_job, settings_from_message

    run_job(int(job_id), settings_from_message(settings, os.environ))


def _fixed_clock(built_at: str | None):
    """The batch's fixed build time (``SOURCE_DATE_EPOCH`` where the batch started), or None for now."""
    if not built_at:
        return None
    fixed = dt.datetime.fromisoformat(built_at)
    return lambda: fixed


def build_from_bundle(request: Mapping[str, Any], *, spool: Path) -> dict:
    """Download a bundle, build and archive its packet (a packet the archive cannot take at once waits
    in ``spool``), return where it is.

    Returns:
        ``{"packet", "sha256", "pages", "archived"}``, or ``{"problems": [[field, message], ...]}``
        for bad input.

    Raises:
        StorageError, OSError: transient failures (the task retries them).
    """
    archive = open_storage(request["archive"])
    inputs = open_storage(request["inputs"])
    raw = inputs.get(request["bundle"])
    try:
        bundle = json.loads(raw.decode("utf-8"))
        case_doc, files, policy_ref = bundle["case"], dict(bundle["files"]), bundle["policy"]
        case_id = str(case_doc.get("case_id", "?"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return {"problems": [[None, f"batch input {request['bundle']} is damaged; run the batch again"]]}
    with WorkFolder("worker") as tmp:
        root = Path(tmp).resolve()
        try:
            case_dir = root / "case"
            for rel, sha in files.items():
                _write_blob(inputs, sha, resolve_inside(case_dir, rel, "attachments.file"))
            policy_path = root / "policy" / Path(policy_ref["name"]).name
            _write_blob(inputs, policy_ref["sha256"], policy_path)
            case = case_from_mapping(case_doc, case_dir)
            policy = load_policy_file(policy_path)
            packet = build_packet(case, policy, out_dir=root / "out", today=dt.date.fromisoformat(request["today"]),
                                  archive=PacketArchive(archive, spool), built_by=request["built_by"],
                                  clock=_fixed_clock(request.get("built_at")))
        except (StorageError, OSError):
            raise  # transient: the task retries
        except PolicyBlock as exc:
            return {"problems": [list(p) for p in block_problems(exc)]}
        except PacketizerError as exc:
            return {"problems": [[exc.field, exc.told(beside_field=True)]]}
        except Exception as exc:  # noqa: BLE001 - a bug fails this case, not the worker
            return {"problems": [[None, unexpected(case_id, exc)]]}
    if packet.archived is None:
        raise StorageError(packet.archive_error or "the packet was not archived", code=ErrorCode.ARCHIVE_FAILED)
    return {"packet": packet.path.name, "sha256": packet.sha256, "pages": packet.pages,
            "archived": packet.archived.prefix}


def _write_blob(storage: Storage, sha256: str, target: Path) -> None:
    data = storage.get(blob_key(sha256))
    if hashlib.sha256(data).hexdigest() != sha256:
        raise IntegrityError(f"batch input {blob_key(sha256)} does not match its hash")
    make_dirs(target.parent)
    with os.fdopen(create_file(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as handle:
        handle.write(data)


# ---------------------------------------------------------------- the dispatcher side


def blob_key(sha256: str) -> str:
    return f"{INPUT_PREFIX}/blobs/{sha256}"


def upload_bundle(storage: Storage, job: Job) -> str:
    """Upload ``job``'s case, attachments and policy; return the bundle's key.

    Everything is content-addressed, so uploading the same inputs again writes nothing.
    """
    files = {}
    for att in job.case.attachments:
        files[att.file] = _put_blob(storage, att.path.read_bytes())
    policy = job.policy
    policy_bytes = Path(policy.path).read_bytes() if policy.path else json.dumps(dict(policy.raw)).encode()
    bundle = {
        "version": BUNDLE_VERSION,
        "case": job.case.raw,
        "files": files,
        "policy": {"name": f"{policy.id}.yaml", "sha256": _put_blob(storage, policy_bytes)},
    }
    data = json.dumps(bundle, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    key = f"{INPUT_PREFIX}/cases/{job.case.case_id}/{hashlib.sha256(data).hexdigest()}/bundle.json"
    storage.put(key, data, content_type="application/json")
    return key


def _put_blob(storage: Storage, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    storage.put(blob_key(sha), data, content_type="application/octet-stream")
    return sha


class _Stop(Exception):
    """Raised from the result loop when the batch is asked to stop."""


def run_celery(jobs: Sequence[Job], archive: str, handle: Callable[[Outcome], None],
               should_stop: Callable[[], bool] = lambda: False, *, app: Celery | None = None) -> bool:
    """Dispatch one task per job, then fetch each finished packet into its output folder.

    Returns:
        True when stopped early (``should_stop()`` or Ctrl-C); tasks not finished are revoked
        (a task already running still archives its packet; the next run builds the case again).
    """
    app = app or create_app()
    storage = open_storage(archive)
    inputs = open_storage(inputs_location(archive))
    pending: dict[str, Job] = {}
    results: list[AsyncResult] = []

    def check_stop() -> None:
        if should_stop():
            raise _Stop

    try:
        for job in jobs:
            check_stop()
            try:
                bundle = upload_bundle(inputs, job)
            except (PacketizerError, OSError) as exc:
                handle(Outcome(job.index, problems=((None, f"could not upload the case inputs: {_reason(exc)}"),)))
                continue
            request = {"bundle": bundle, "archive": archive, "inputs": inputs_location(archive),
                       "today": job.today.isoformat(), "built_by": job.built_by,
                       "built_at": job.built_at.isoformat() if job.built_at else None}
            result = app.send_task(TASK_NAME, args=[request], queue=queue_name(),
                                   retry=True, retry_policy=_PUBLISH_RETRY)
            pending[result.id] = job
            results.append(result)
        if results:
            for task_id, meta in ResultSet(results, app=app).iter_native(on_interval=check_stop):
                job = pending.pop(task_id)
                handle(_outcome(job, meta, storage))
    except (_Stop, KeyboardInterrupt):
        if pending:
            log.warning("batch: stopping; revoking %d task(s) not finished", len(pending))
            app.control.revoke(list(pending))
        return True
    return False


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, PacketizerError) else (getattr(exc, "strerror", None) or type(exc).__name__)


def _outcome(job: Job, meta: Mapping[str, Any], storage: Storage) -> Outcome:
    value = meta.get("result") if isinstance(meta, Mapping) else None
    if meta.get("status") != "SUCCESS" or not isinstance(value, Mapping):
        kind = value.get("exc_type") if isinstance(value, Mapping) else type(value).__name__
        return Outcome(job.index, problems=((None, f"the worker task failed ({kind}); run the batch again"),))
    if value.get("problems"):
        return Outcome(job.index, problems=tuple((field, message) for field, message in value["problems"]))
    try:
        fetch_packet(storage, job, value)
    except (PacketizerError, OSError) as exc:
        return Outcome(job.index, packet=None, archived=value["archived"],
                       problems=((None, f"archived as {value['archived']} but not fetched: {_reason(exc)}"),))
    return Outcome(job.index, packet=value["packet"], sha256=value["sha256"], pages=value["pages"],
                   archived=value["archived"])


def fetch_packet(storage: Storage, job: Job, value: Mapping[str, Any]) -> None:
    """Copy an archived packet and its disclosure report into the output folder, checked against the manifest."""
    prefix = value["archived"]
    version = ArchivedVersion(
        case_id=job.case.case_id, payer_id=job.policy.id, created=None, sha256=value["sha256"],
        pages=value["pages"], size=None, file_name=value["packet"], prefix=prefix,
    )
    files = retrieve_version(storage, version)
    # A packet in parts (SPEC section 11) is archived as part 1, the other parts beside it; the reports are
    # named after the whole packet.
    stem = re.sub(r"_part\d+of\d+$", "", value["packet"].removesuffix(".pdf"))
    for name, data in files:  # report files come first, the packet last
        if name in _REPORT_NAMES:
            replace_file(job.out_dir / (stem + _REPORT_NAMES[name]), data)
        elif name == value["packet"] or re.fullmatch(rf"{re.escape(stem)}_part\d+of\d+\.pdf", name):
            replace_file(job.out_dir / name, data)
