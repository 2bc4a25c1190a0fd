"""The sandbox: untrusted content is parsed in a forked child under limits, never in the process that builds.

Hostile PDFs (fuzzer output, loops, decompression bombs) must never hang or
crash the process that builds packets. :func:`run_sandboxed` forks a child
with an address-space limit and a wall-clock deadline, which answers through
a pipe; work done in stages asks for each stage's time with :func:`stage_done`;
:func:`start_sandboxed` starts such a child without waiting for it, and what the
child tells early (:func:`tell_parent`: a page count) reaches the parent while
it works; :func:`in_two` spreads work over many pages on both cores inside a child.
Ingest (sanitising PDFs), redaction and the no-leak proof run their parsing here.
"""

from __future__ import annotations

import faulthandler
import gc
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
import weakref
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")

_HEADER = struct.Struct(">I")
# Time from one piece of an answer to the next once it has begun (the child's work is done; a large PDF
# takes well under a second in all).
_ANSWER_SECONDS = 30
_MAX_TOLD_BYTES = 64 * 1024   # one tell_parent message (a page count); a larger one means a broken child
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

    :func:`start_sandboxed` starts the same child without waiting for it.
    """
    return start_sandboxed(work, data, timeout=timeout, memory=memory, next_timeouts=next_timeouts,
                           extend_seconds=extend_seconds, extend_limit=extend_limit).result()


def start_sandboxed(
    work: Callable[[bytes], tuple[dict, bytes]], data: bytes, *, timeout: float, memory: int,
    next_timeouts: tuple[float, ...] = (), extend_seconds: float = 0.0, extend_limit: float = 0.0,
) -> "SandboxedChild":
    """:func:`run_sandboxed`, without waiting: the child works while this process goes on.

    Its answer is taken in by :meth:`SandboxedChild.result` (or :func:`wait_any`, for several);
    what it tells before it (:func:`tell_parent`) is in :attr:`SandboxedChild.told`.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        _child(work, data, write_fd, memory)  # never returns
    os.close(write_fd)
    keep_from_children(read_fd)
    try:
        os.setpgid(pid, pid)   # also done by the child; whichever runs first wins the race with a kill
    except OSError:
        pass
    return SandboxedChild(pid, read_fd, timeout=timeout, next_timeouts=next_timeouts,
                          extend_seconds=extend_seconds, extend_limit=extend_limit)


class SandboxedChild:
    """A child of :func:`start_sandboxed` at work, and what it has sent so far."""

    def __init__(self, pid: int, read_fd: int, *, timeout: float, next_timeouts: tuple[float, ...],
                 extend_seconds: float, extend_limit: float) -> None:
        self._pid = pid
        self._fd: int | None = read_fd
        self._deadline = time.monotonic() + timeout
        self._next_timeouts = next_timeouts
        self._extend_seconds = extend_seconds
        self._extend_limit = extend_limit
        self._extended = 0.0
        self._stages = 0
        self._head = bytearray()          # what came before the answer and is not read yet
        self._answering = False           # the answer has begun: every further byte is part of it
        self._chunks: list[bytes] = []
        self._timed_out = False
        self._outcome: tuple[str, dict, bytes] | None = None
        self.told: list[dict] = []        # what the child told with tell_parent, in order
        # A child nobody waits for any more (a bug, an exception between two steps) still goes.
        self._finalizer = weakref.finalize(self, _finish_child, pid, read_fd)

    def fileno(self) -> int:
        """The pipe the child answers through (while it works)."""
        if self._fd is None:
            raise ValueError("the child has finished")
        return self._fd

    @property
    def pid(self) -> int:
        """The child's process id (it leads its own process group)."""
        return self._pid

    @property
    def deadline(self) -> float:
        """When the child runs out of time (``time.monotonic()``), as far as its stages so far say."""
        return self._deadline

    @property
    def finished(self) -> bool:
        """Whether the child has answered, died or run out of time (and been reaped)."""
        return self._fd is None

    def pump(self, wait: float | None = None) -> bool:
        """Take in what the child has sent, waiting up to ``wait`` seconds (None: until it sends something or
        its time runs out); True once it has finished.

        What is waiting in the pipe is read before the deadline is looked at: a child that answered while this
        process was busy elsewhere has not run out of time. Its answer has ``_ANSWER_SECONDS`` from each piece
        to the next; before the answer, the deadline holds however much the child writes.
        """
        if self._fd is None:
            return True
        try:
            # poll, not select: a process with many files open (a web worker) has descriptor numbers above 1024.
            waiting = select.poll()
            waiting.register(self._fd, select.POLLIN)
            if waiting.poll(0):
                if not self._read():
                    return self._end()
                if self._answering or time.monotonic() < self._deadline:
                    return False
            left = self._deadline - time.monotonic()
            if left <= 0:
                self._timed_out = True
                return self._end()
            span = left if wait is None else min(left, max(wait, 0.0))
            if waiting.poll(max(0, math.ceil(span * 1000))) and not self._read():
                return self._end()
            return False
        except BaseException:
            self._end(status="stopped")
            raise

    def result(self) -> tuple[str, dict, bytes]:
        """Wait for the child to finish: (status, meta, payload), as :func:`run_sandboxed` returns them.
        Interrupted (Ctrl-C, a task's time limit), the child is stopped before the interruption goes on."""
        try:
            while not self.pump():
                pass
        except BaseException:
            self.stop()
            raise
        assert self._outcome is not None
        return self._outcome

    def kill(self) -> None:
        """Kill the child and what it started, without waiting for them (:meth:`stop` reaps them)."""
        if self._fd is not None:
            _kill(self._pid)

    def stop(self) -> None:
        """Kill the child (and what it started) if it is still at work; its result is then "stopped"."""
        if self._fd is not None:
            self._end(status="stopped")

    def _read(self) -> bool:
        """Read one chunk; False at the end of the pipe (or when what came before the answer is not well formed)."""
        chunk = os.read(self._fd, 1 << 20)
        if not chunk:
            return False
        if self._answering:
            self._chunks.append(chunk)
            self._deadline = max(self._deadline, time.monotonic() + _ANSWER_SECONDS)
            return True
        self._head += chunk
        return self._take_head()

    def _take_head(self) -> bool:
        """Stage marks and things told come before the answer, whose length header never starts with either;
        False for a told frame larger than ``_MAX_TOLD_BYTES`` (the child is then taken as crashed)."""
        head = self._head
        while head and not self._answering:
            if head[0] == _STAGE_MARK[0]:
                del head[:1]
                self._stages += 1
                if self._stages <= len(self._next_timeouts):
                    self._deadline = time.monotonic() + self._next_timeouts[self._stages - 1]
                elif self._extended + self._extend_seconds <= self._extend_limit:
                    self._deadline += self._extend_seconds
                    self._extended += self._extend_seconds
            elif head[0] == _TOLD_MARK[0]:
                if len(head) < 1 + _HEADER.size:
                    return True
                (size,) = _HEADER.unpack_from(head, 1)
                if size > _MAX_TOLD_BYTES:
                    self._chunks.clear()
                    return False
                if len(head) < 1 + _HEADER.size + size:
                    return True
                try:
                    told = json.loads(bytes(head[1 + _HEADER.size:1 + _HEADER.size + size]))
                except (ValueError, RecursionError):
                    told = None
                del head[:1 + _HEADER.size + size]
                if isinstance(told, dict):
                    self.told.append(told)
            else:
                # The work is done: what is left is writing the answer, which gets its own time.
                self._answering = True
                self._deadline = max(self._deadline, time.monotonic() + _ANSWER_SECONDS)
                self._chunks.append(bytes(head))
                head.clear()
        return True

    def _end(self, status: str | None = None) -> bool:
        fd, self._fd = self._fd, None
        if fd is None:
            return True
        self._outcome = (status or "stopped", {"stages_done": self._stages}, b"")   # if reaping is interrupted
        self._finalizer.detach()
        _finish_child(self._pid, fd)
        self._outcome = self._answer(status)
        return True

    def _answer(self, status: str | None) -> tuple[str, dict, bytes]:
        stages = self._stages
        if status is not None:
            return status, {"stages_done": stages}, b""
        if self._timed_out:
            return "timeout", {"stages_done": stages}, b""
        blob = b"".join(self._chunks)
        if len(blob) < _HEADER.size:
            return "crashed", {"stages_done": stages}, b""
        (meta_len,) = _HEADER.unpack_from(blob)
        try:
            meta = json.loads(blob[_HEADER.size : _HEADER.size + meta_len])
        except (ValueError, RecursionError):
            return "crashed", {"stages_done": stages}, b""
        if not isinstance(meta, dict):
            return "crashed", {"stages_done": stages}, b""
        meta["stages_done"] = stages
        return meta.get("status", "crashed"), meta, blob[_HEADER.size + meta_len :]


def _finish_child(pid: int, fd: int) -> None:
    """Close the child's pipe, kill it with its process group and reap it."""
    release_from_children(fd)
    try:
        os.close(fd)
    except OSError:
        pass
    # Nothing the child started outlives it; the group goes before the child is
    # reaped, while its id cannot yet belong to anyone else.
    _kill(pid)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def keep_from_children(*fds: int) -> None:
    """Descriptors of this process that every process it forks closes at once: the pipes of its sandboxed
    children and of its render process. A child parsing a hostile file then cannot read another child's
    answer, write a request to the render process, or keep a pipe open after its parent has gone."""
    _PARENT_ONLY.update(fds)


def release_from_children(fd: int) -> None:
    """``fd`` is about to be closed: forked processes need not close it any more."""
    _PARENT_ONLY.discard(fd)


def _close_parent_only_in_child() -> None:
    for fd in _PARENT_ONLY:
        try:
            os.close(fd)
        except OSError:
            pass
    _PARENT_ONLY.clear()


_PARENT_ONLY: set[int] = set()
os.register_at_fork(after_in_child=_close_parent_only_in_child)


def wait_any(children: list[SandboxedChild], also: Iterable[int] = ()) -> None:
    """Wait until one of ``children`` sends something, a descriptor of ``also`` turns readable (the render
    process's answers, which the caller takes in) or the soonest deadline passes, then take in what each
    child has sent: all of them are read, so none waits with a full pipe while another is waited for."""
    working = [child for child in children if not child.finished]
    if not working:
        return
    waiting = select.poll()
    for child in working:
        waiting.register(child.fileno(), select.POLLIN)
    for fd in also:
        waiting.register(fd, select.POLLIN)
    soonest = min(child.deadline for child in working) - time.monotonic()
    waiting.poll(max(0, math.ceil(soonest * 1000)))
    for child in working:
        child.pump(0)


_STAGE_MARK = b"\xff"
_TOLD_MARK = b"\xfe"
_stage_fd: int | None = None   # set in the child only


def stage_done() -> None:
    """In a sandboxed child: tell the parent one stage of the work is finished (see :func:`run_sandboxed`)."""
    if _stage_fd is not None:
        write_all(_stage_fd, _STAGE_MARK)


def tell_parent(told: dict) -> None:
    """In a sandboxed child: tell the parent something before the answer (a JSON-able dict, never PHI), which
    it finds in :attr:`SandboxedChild.told` while the child goes on."""
    if _stage_fd is not None:
        blob = json.dumps(told).encode()
        write_all(_stage_fd, _TOLD_MARK + _HEADER.pack(len(blob)) + blob)


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
        _leave_inherited_to_the_parent()
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


def _leave_inherited_to_the_parent() -> None:
    """In a forked child: its collector never walks the objects it inherited (``gc.freeze``).

    A full collection walks every object, and a forked child's every object is
    its parent's until written to: a warm build's heap (WeasyPrint, the layouts)
    would be walked, and its pages copied, for nothing the child made.
    Moving them out of the collector's reach costs nothing (the generations'
    lists are joined, no object is touched); the child lives for one task.
    """
    gc.freeze()


def _child(work, data: bytes, fd: int, memory: int) -> None:
    """Child side: set limits, do the work, write one framed answer, exit hard."""
    global _stage_fd
    _stage_fd = fd
    code = 0
    _leave_inherited_to_the_parent()
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
