"""The sandbox: untrusted content is parsed in a forked child under limits, never in the process that builds.

Hostile PDFs (fuzzer output, loops, decompression bombs) must never hang or
crash the process that builds packets. :func:`run_sandboxed` forks a child
with an address-space limit and a wall-clock deadline, which answers through
a pipe; work done in stages asks for each stage's time with :func:`stage_done`;
:func:`in_two` spreads work over many pages on both cores inside a child.
Ingest (sanitising PDFs), redaction and the no-leak proof run their parsing here.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import math
import mmap
import os
import pickle
import resource
import select
import signal
import struct
import time
import warnings
from typing import Callable, TypeVar

T = TypeVar("T")

_HEADER = struct.Struct(">I")
_RESERVE_BYTES = 4 * 1024 * 1024


def run_sandboxed(
    work: Callable[[bytes], tuple[dict, bytes]], data: bytes, *, timeout: float, memory: int,
    next_timeouts: tuple[float, ...] = (), extend_seconds: float = 0.0, extend_limit: float = 0.0,
) -> tuple[str, dict, bytes]:
    """Run ``work(data)`` in a forked child under limits; return (status, meta, payload).

    ``work`` returns a JSON-able ``meta`` dict (its ``status`` is passed
    back) and a payload of bytes. Besides the statuses ``work`` sets, the
    answer may be "timeout", "memory", "damaged" (RecursionError) or
    "crashed". Also used by the disclosure package, whose redaction and
    no-leak proof parse the same untrusted content streams.

    Work done in stages calls :func:`stage_done` in the child after each one:
    the child then gets the next of ``next_timeouts`` (seconds from that
    moment) instead of what was left of ``timeout``. ``meta["stages_done"]``
    says how many stages the child finished, also when it timed out or died,
    so the caller can tell which stage failed. Marks past the last of
    ``next_timeouts`` each give the child ``extend_seconds`` more, up to
    ``extend_limit`` in all: work whose length is known only inside the child
    (OCR, page by page) asks for its time, within a bound.

    The child leads a process group of its own, and a child that runs out of
    time is killed with the whole group: programs it started (Tesseract) go too.

    os.fork rather than multiprocessing: no pickling, no resource tracker, and
    it also works inside daemonic pool workers, which multiprocessing forbids
    from having children.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        _child(work, data, write_fd, memory)  # never returns
    os.close(write_fd)
    try:
        os.setpgid(pid, pid)   # also done by the child; whichever runs first wins the race with a kill
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    stages = 0
    extended = 0.0
    timed_out = False
    # poll, not select: a process with many files open (a web worker) has descriptor numbers above 1024.
    waiting = select.poll()
    waiting.register(read_fd, select.POLLIN)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not waiting.poll(max(1, math.ceil(left * 1000))):
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            if not chunks:
                # Stage marks come before the answer, whose length header never starts with one.
                answer = chunk.lstrip(_STAGE_MARK)
                for _ in range(len(chunk) - len(answer)):
                    stages += 1
                    if stages <= len(next_timeouts):
                        deadline = time.monotonic() + next_timeouts[stages - 1]
                    elif extended + extend_seconds <= extend_limit:
                        deadline += extend_seconds
                        extended += extend_seconds
                if not answer:
                    continue
                chunk = answer
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        # Nothing the child started outlives it; the group goes before the child is
        # reaped, while its id cannot yet belong to anyone else.
        _kill(pid)
        os.waitpid(pid, 0)
    if timed_out:
        return "timeout", {"stages_done": stages}, b""
    blob = b"".join(chunks)
    if len(blob) < _HEADER.size:
        return "crashed", {"stages_done": stages}, b""
    (meta_len,) = _HEADER.unpack_from(blob)
    try:
        meta = json.loads(blob[_HEADER.size : _HEADER.size + meta_len])
    except ValueError:
        return "crashed", {"stages_done": stages}, b""
    meta["stages_done"] = stages
    return meta.get("status", "crashed"), meta, blob[_HEADER.size + meta_len :]


_STAGE_MARK = b"\xff"
_stage_fd: int | None = None   # set in the child only


def stage_done() -> None:
    """In a sandboxed child: tell the parent one stage of the work is finished (see :func:`run_sandboxed`)."""
    if _stage_fd is not None:
        write_all(_stage_fd, _STAGE_MARK)


def in_two(count: int, work: Callable[[range], T], *, min_count: int, first_share: float = 0.5) -> list[T]:
    """``work`` over ``range(count)`` on both cores: the first part here, the rest in a forked process at
    the same time; ``[first result, second result]``.

    Meant for a sandboxed child (the forked process is in its process group and
    goes with it, under the same limits), for work on many pages whose result
    is picklable. Below ``min_count``, or with one core, ``[work(range(count))]``.
    When the forked process fails, its part is done again here, and when no
    process can be forked, everything is done here: never less work.
    ``first_share`` is the part done here (a half by default): more when the
    work on the last range carries more besides its pages.
    """
    if count < min_count or (os.cpu_count() or 1) < 2:
        return [work(range(count))]
    middle = min(count - 1, max(1, round(count * first_share)))
    second_half = range(middle, count)
    try:
        read_fd, write_fd = os.pipe()
    except OSError:   # no descriptors left: all of it here, on one core
        return [work(range(count))]
    try:
        pid = os.fork()
    except OSError:   # no process left (or no memory to fork): all of it here, on one core
        os.close(read_fd)
        os.close(write_fd)
        return [work(range(count))]
    if pid == 0:   # pragma: no cover - the forked half reports through the pipe
        global _stage_fd
        _stage_fd = None   # the lead process alone marks stages
        os.close(read_fd)
        code = 0
        try:
            write_all(write_fd, pickle.dumps(work(second_half), protocol=pickle.HIGHEST_PROTOCOL))
        except BaseException:  # noqa: BLE001 - the lead process redoes the half
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    reaped = False
    try:
        first = work(range(middle))
        chunks = []
        while chunk := os.read(read_fd, 1 << 20):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        os.close(read_fd)
        if not reaped:   # this half failed: the other is not needed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    second = None
    if os.waitstatus_to_exitcode(status) == 0:
        try:
            second = pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a garbled answer: do the half here
            second = None
    if second is None:
        second = work(second_half)
    return [first, second]


def _kill(pid: int) -> None:
    _kill_group(pid)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child(work, data: bytes, fd: int, memory: int) -> None:
    """Child side: set limits, do the work, write one framed answer, exit hard."""
    global _stage_fd
    _stage_fd = fd
    code = 0
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    # Address space set aside before the limit applies and given back when the
    # work runs out, so that reporting "memory" does not itself fail for want of
    # it. An anonymous mapping: a bytearray would be zero-filled (3 ms a fork).
    reserve = mmap.mmap(-1, _RESERVE_BYTES)
    try:
        # The child inherits the parent's mappings (interpreter, libraries,
        # other caches), so the budget is added on top of what is already
        # mapped; a flat cap could sit below the parent's own size and fail
        # every allocation.
        limit = _current_address_space() + memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        logging.disable(logging.CRITICAL)  # pypdf warns a lot about broken files
        warnings.simplefilter("ignore")
        faulthandler.disable()   # a crash here is reported by status, not a traceback on the parent's stderr
        try:
            meta, payload = work(data)
        except MemoryError:
            reserve.close()
            meta, payload = {"status": "memory"}, b""
        except RecursionError:
            meta, payload = {"status": "damaged"}, b""
        blob = json.dumps(meta).encode()
        write_all(fd, _HEADER.pack(len(blob)) + blob)
        write_all(fd, payload)
    except BaseException:  # noqa: BLE001 - the child must always exit, never unwind into the parent's code
        code = 1
    finally:
        # _exit: skip atexit handlers and buffered stdio inherited from the parent.
        os._exit(code)


def write_all(fd: int, data: bytes) -> None:
    """Write ``data`` whole to the descriptor ``fd`` (a pipe takes it in pieces)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _current_address_space() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0
