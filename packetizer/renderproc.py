"""Layouts on the second core: WeasyPrint in a process of its own, started when a cold build begins.

A build process that has not rendered yet (the command line's, a web job's)
spends about a quarter of a second importing WeasyPrint before it can lay out
a page, and then lays out the converted notes and the front sections while the
other core idles. :func:`start_renderer` forks a render process first thing:
it imports WeasyPrint and warms its fonts while the build loads its modules,
checks the case and plans the disclosure, then lays out what the build hands
it while the build sanitises, checks and redacts the PDF attachments.

The work is the same either way: a :class:`Renderer` runs each call at once in
this process, a :class:`RenderProcess` in the render process, one call after
another in the order given, and :meth:`Renderer.result` returns what the call
returned or raises what it raised. Calls are module functions and their
arguments, sent pickled through a pipe (the render process reads no file the
build did not name in its HTML and touches no storage). When the render
process cannot be started or dies, its calls are run here instead: a build
never fails because of it.

A warm process (WeasyPrint imported already: batch workers, the web server)
keeps its layouts: a fork of it would save no import, and a batch keeps both
cores busy with one build each.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import pickle
import select
import signal
import struct
import sys
import threading
from typing import Any, Callable

from .sandbox import keep_from_children, release_from_children, write_all

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">Q")
_READ_BYTES = 1 << 20
# What the render process lays out and writes while it waits for the build: the kinds of text a note and the
# front sections hold (headings, bold and italic, a table, a list), so the fonts and the writer are ready.
_WARM_HTML = ("<h2>Progress note</h2><p>Seen for <strong>lumbar pain</strong>, <em>improving</em>.</p>"
              "<table><tr><th>Code</th><td>97110</td></tr></table><ul><li>Plan: continue twice a week.</li></ul>")


class Renderer:
    """Runs each call at once, in this process (see the module docstring)."""

    def __init__(self) -> None:
        self._outcomes: dict[int, tuple[bool, Any]] = {}
        self._next = 0

    def submit(self, work: Callable, *args, **kwargs) -> int:
        """Hand ``work(*args, **kwargs)`` over; a ticket for :meth:`result`."""
        ticket = self._next
        self._next += 1
        self._outcomes[ticket] = _run(work, args, kwargs)
        return ticket

    def result(self, ticket: int) -> Any:
        """What the call of ``ticket`` returned, or raise what it raised."""
        ok, value = self._outcomes.pop(ticket)
        if ok:
            return value
        raise value

    def call(self, work: Callable, *args, **kwargs) -> Any:
        """``work(*args, **kwargs)`` through this renderer, waiting for it."""
        return self.result(self.submit(work, *args, **kwargs))

    def discard(self, ticket: int) -> None:
        """The result of ``ticket`` is not wanted (nothing waits for it)."""
        self._outcomes.pop(ticket, None)

    @property
    def lays_out_here(self) -> bool:
        """Whether the calls run in this process (so that :meth:`submit` returns only when one is done)."""
        return True

    def close(self) -> None:
        """Let go of what the renderer holds (nothing, in this process)."""


class RenderProcess(Renderer):
    """Runs the calls in a forked render process, one after another, while this process goes on."""

    def __init__(self, pid: int, requests: int, answers: int) -> None:
        super().__init__()
        self._pid = pid
        self._requests = requests
        self._answers = answers
        self._inbox = bytearray()
        self._pending: dict[int, tuple[Callable, tuple, dict]] = {}
        self._discarded: set[int] = set()
        self._alive = True

    @property
    def pid(self) -> int:
        """The render process's id."""
        return self._pid

    def submit(self, work: Callable, *args, **kwargs) -> int:
        if not self._alive:
            return super().submit(work, *args, **kwargs)
        ticket = self._next
        self._next += 1
        self._pending[ticket] = (work, args, kwargs)
        try:
            blob = pickle.dumps((work, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - something that cannot travel is done here
            self._pending.pop(ticket)
            self._outcomes[ticket] = _run(work, args, kwargs)
            return ticket
        self._send(_LENGTH.pack(len(blob)) + blob)
        return ticket

    def result(self, ticket: int) -> Any:
        while ticket not in self._outcomes:
            if not self._alive:
                self._run_here()
                break
            if not self._take_answer():
                self._wait_for_bytes()
        return super().result(ticket)

    def discard(self, ticket: int) -> None:
        if ticket in self._pending:
            self._discarded.add(ticket)
        super().discard(ticket)

    @property
    def lays_out_here(self) -> bool:
        return not self._alive

    def close(self) -> None:
        if self._alive:
            self._stop()

    # ------------------------------------------------------------------ the pipe

    def _send(self, data: bytes) -> None:
        """Write one request whole, taking in answers meanwhile (both pipes may be full at once)."""
        view = memoryview(data)
        try:
            poller = select.poll()
            poller.register(self._answers, select.POLLIN)
            poller.register(self._requests, select.POLLOUT)
            while view and self._alive:
                ready = dict(poller.poll())
                if ready.get(self._answers):
                    self._read_answers()
                if ready.get(self._requests) and self._alive:
                    try:
                        view = view[os.write(self._requests, view):]
                    except BlockingIOError:
                        continue
        except Exception:  # noqa: BLE001 - the render process is gone or the pipe unusable: its calls are done here
            self._lost()

    def _wait_for_bytes(self) -> None:
        try:
            poller = select.poll()
            poller.register(self._answers, select.POLLIN)
            poller.poll()
            self._read_answers()
        except Exception:  # noqa: BLE001 - as in _send
            self._lost()

    def _read_answers(self) -> None:
        try:
            chunk = os.read(self._answers, _READ_BYTES)
        except OSError:
            chunk = b""
        if chunk:
            self._inbox += chunk
        else:
            self._lost()

    def _take_answer(self) -> bool:
        """File the first complete answer in the inbox under its ticket; False when none is complete."""
        if len(self._inbox) < _LENGTH.size:
            return False
        (size,) = _LENGTH.unpack_from(self._inbox)
        if len(self._inbox) < _LENGTH.size + size:
            return False
        blob = bytes(self._inbox[_LENGTH.size:_LENGTH.size + size])
        del self._inbox[:_LENGTH.size + size]
        ticket = min(self._pending)   # answers come in the order of the requests
        work, args, kwargs = self._pending.pop(ticket)
        if ticket in self._discarded:   # nobody wants it
            self._discarded.discard(ticket)
            return True
        try:
            ok, value = pickle.loads(blob)
        except Exception:  # noqa: BLE001 - an answer that cannot be read: the call is done here
            ok, value = _run(work, args, kwargs)
        if ok is None:   # the render process could not send what the call raised
            ok, value = _run(work, args, kwargs)
        self._outcomes[ticket] = (ok, value)
        return True

    def _lost(self) -> None:
        if self._alive:
            log.warning("the render process ended early; its layouts are done in the build process")
            self._stop()

    def _run_here(self) -> None:
        for ticket in sorted(self._pending):
            work, args, kwargs = self._pending.pop(ticket)
            if ticket in self._discarded:
                self._discarded.discard(ticket)
                continue
            self._outcomes[ticket] = _run(work, args, kwargs)

    def _stop(self) -> None:
        self._alive = False
        for fd in (self._requests, self._answers):
            release_from_children(fd)
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass


_started = False   # whether this process has started a render process already
# A render process's requests pipe holds a note's HTML whole (a Word note with pictures runs to hundreds of
# kilobytes), so the build hands it over without waiting for the render process to read (Linux; else 64 KiB).
_PIPE_BYTES = 1 << 20


def start_renderer() -> Renderer:
    """A :class:`RenderProcess` for a cold process with two cores or more, else a :class:`Renderer`.

    Only the first build of a process gets one: a process that builds again
    imports WeasyPrint once and is warm from then on, instead of paying the
    import again in a new render process for every build. Only a process with
    one thread forks it: a fork taken while another thread holds a lock (an
    import, the logging lock) could leave the render process waiting on that
    lock for ever.
    """
    global _started
    if _started or "weasyprint" in sys.modules or (os.cpu_count() or 1) < 2 or threading.active_count() > 1:
        return Renderer()
    try:
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
    except OSError:
        return Renderer()
    try:
        pid = os.fork()
    except OSError:
        for fd in (requests_read, requests_write, answers_read, answers_write):
            os.close(fd)
        return Renderer()
    if pid == 0:   # pragma: no cover - the render process reports through the pipe
        os.close(requests_write)
        os.close(answers_read)
        _serve(requests_read, answers_write)
    os.close(requests_read)
    os.close(answers_write)
    os.set_blocking(requests_write, False)
    for fd in (requests_write, answers_read):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except (AttributeError, OSError):   # not Linux, or a lower limit: the default buffer serves
            pass
    # Processes the build forks (sandboxed children, OCR batches) close them at once.
    keep_from_children(requests_write, answers_read)
    _started = True
    return RenderProcess(pid, requests_write, answers_read)


def _serve(requests: int, answers: int) -> None:  # pragma: no cover - runs in the render process
    """The render process: warm WeasyPrint, then answer requests until the build closes the pipe."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C stops the build, which ends this process
        from . import render

        try:   # imports WeasyPrint, reads the print styles, loads the fonts, writes a PDF once
            render.html_to_pdf(render.render_exhibit_html("Progress note", _WARM_HTML))
        except Exception:  # noqa: BLE001 - the build's own call will meet the same problem and report it
            pass
        from . import sections  # noqa: F401 - the front sections' request unpickles into it
        # The render process lives for one build: what the warm-up loaded stays to its end, so the
        # collector need not walk it at every full collection (about 40 ms of a build's layouts).
        gc.freeze()
        inbox = bytearray()
        while True:
            blob = _read_frame(requests, inbox)
            if blob is None:
                break
            work, args, kwargs = pickle.loads(blob)
            outcome = _run(work, args, kwargs)
            try:
                answer = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - the build runs the call itself
                answer = pickle.dumps((None, None))
            write_all(answers, _LENGTH.pack(len(answer)) + answer)
    except BaseException:  # noqa: BLE001 - never unwind into the build's code
        code = 1
    finally:
        os._exit(code)


def _read_frame(fd: int, inbox: bytearray) -> bytes | None:  # pragma: no cover - render process
    while True:
        if len(inbox) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(inbox)
            if len(inbox) >= _LENGTH.size + size:
                blob = bytes(inbox[_LENGTH.size:_LENGTH.size + size])
                del inbox[:_LENGTH.size + size]
                return blob
        chunk = os.read(fd, _READ_BYTES)
        if not chunk:
            return None
        inbox += chunk


def _run(work: Callable, args: tuple, kwargs: dict) -> tuple[bool, Any]:
    try:
        return True, work(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - handed to whoever asks for the result
        return False, exc


__all__ = ["RenderProcess", "Renderer", "start_renderer"]
