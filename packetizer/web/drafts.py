"""Typed work kept across a sign-out: the case form posted after its session ended.

When a session has idled out or outlived its absolute lifetime, the browser
still sends its cookie (see ``PERMANENT_SESSION_LIFETIME`` in :mod:`.config`), so
a case form posted then still names its user and carries a valid CSRF token.
Instead of refusing it, the server keeps what was typed in
``<instance>/drafts/<user id>.json`` (it holds PHI: the folder is 0700 and the
file 0600), signs the user out and, after they sign in again as the same user,
shows the form page they posted from with what they had typed.

A session ended on purpose (sign-out, a password change, a disabled account)
keeps nothing: whoever posts with such a cookie is not trusted to write into
that user's form. Uploaded files are not kept, only typed inputs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from werkzeug.datastructures import MultiDict

from ..private import create_file, make_dirs

DRAFTS = "drafts"
#: The form pages whose posts are kept: the long case form (new and edit).
DRAFT_ENDPOINTS = frozenset({"cases.new", "cases.edit"})
#: Inputs never kept: the old session's token and the button pressed.
_SKIPPED = frozenset({"csrf_token", "action"})


def _folder(instance: Path) -> Path:
    return make_dirs(instance / DRAFTS)


def _path(instance: Path, user_id: int) -> Path:
    return _folder(instance) / f"{int(user_id)}.json"


def keep_draft(instance: Path, user_id: int, path: str, form: MultiDict, *, now: dt.datetime) -> bool:
    """Keep the typed inputs of ``form``, posted to ``path``, for ``user_id`` (replacing an older draft).

    Returns:
        Whether anything was kept (a form with no typed input keeps nothing).
    """
    fields = [(name, value) for name, value in form.items(multi=True) if name not in _SKIPPED and value]
    if not fields:
        return False
    target = _path(instance, user_id)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with os.fdopen(create_file(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w", encoding="utf-8") as handle:
            json.dump({"path": path, "saved_at": now.isoformat(), "fields": fields}, handle, ensure_ascii=False)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)   # typed inputs hold PHI: no half-written copy stays behind
        raise
    return True


def take_draft(instance: Path, user_id: int, path: str, *, now: dt.datetime, max_age: dt.timedelta) -> MultiDict | None:
    """The inputs kept for ``user_id`` from the form at ``path``, removed as they are handed over.

    A draft older than ``max_age`` is removed and not returned; a draft of another page stays.
    """
    target = _path(instance, user_id)
    try:
        with open(target, encoding="utf-8") as handle:
            draft = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        target.unlink(missing_ok=True)
        return None
    try:
        saved_at = dt.datetime.fromisoformat(draft["saved_at"])
    except (KeyError, TypeError, ValueError):
        saved_at = None
    if saved_at is None or now - saved_at > max_age:
        target.unlink(missing_ok=True)
        return None
    if draft.get("path") != path:
        return None
    target.unlink(missing_ok=True)
    return MultiDict([(str(name), str(value)) for name, value in draft.get("fields", [])])


def remove_expired_drafts(instance: Path, *, now: dt.datetime, max_age: dt.timedelta) -> int:
    """Remove drafts nobody came back for within ``max_age``; how many were removed."""
    folder = instance / DRAFTS
    if not folder.is_dir():
        return 0
    removed = 0
    for leftover in folder.glob(".*.tmp"):   # a write that died half-way (the process was killed)
        leftover.unlink(missing_ok=True)
    for path in folder.glob("*.json"):
        try:
            with open(path, encoding="utf-8") as handle:
                saved_at = dt.datetime.fromisoformat(json.load(handle)["saved_at"])
        except (OSError, ValueError, KeyError, TypeError):
            saved_at = None  # unreadable: nobody can be given it back
        if saved_at is None or now - saved_at > max_age:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
