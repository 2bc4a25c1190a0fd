"""Layouts on the second core: WeasyPrint in a process of its own, started when a cold build begins.

A build process that has not rendered yet (the command line's, a web job's)
spends about half a second importing WeasyPrint before it can lay out a page,
and then lays out the converted notes and the front sections while the other
core idles. :func:`start_renderer` forks a render process first thing: it
imports WeasyPrint and warms its fonts while the build loads its modules,
checks the case and plans the disclosure, then forks its twin. The render
process lays out the notes the build hands it, then the cover note, while the
twin lays out the narrative and summary (:meth:`Renderer.submit_aside`), and the
build sanitises, checks and redacts the PDF attachments.

The work is the same either way: a :class:`Renderer` runs each call at once in
this process, a :class:`RenderProcess` in the render process (or its twin), one
call after another in the order given, and :meth:`Renderer.result` returns what
the call returned or raises what it raised. Calls are module functions and their
arguments, sent pickled through a pipe (the render process reads no file the
build did not name in its HTML and touches no storage). When the render
process cannot be started or dies, its calls are run here instead: a build
never fails because of it.

A warm process (WeasyPrint imported already: batch workers, the web server)
keeps its layouts: a fork of it would save no import, and a batch keeps both
cores busy with one build each. A warm process that builds one packet with
both cores to itself (a web job's) asks for a :class:`BesideRenderer`: a
helper forked from it lays out the front sections while it lays out the notes.
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
import time
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
    """Runs each call at once, in this process (see the module docstring); with a ``lane`` (a process of its
    own), the calls given to :meth:`submit_aside` run there."""

    def __init__(self, lane: RenderProcess | None = None) -> None:
        self._outcomes: dict[int, tuple[bool, Any]] = {}
        self._next = 0
        self._lane = lane
        self._aside: dict[int, int] = {}   # a ticket of this renderer -> the lane's ticket for that call

    def submit(self, work: Callable, *args, **kwargs) -> int:
        """Hand ``work(*args, **kwargs)`` over; a ticket for :meth:`result`."""
        ticket = self._next
        self._next += 1
        self._outcomes[ticket] = _run(work, args, kwargs)
        return ticket

    def result(self, ticket: int) -> Any:
        """What the call of ``ticket`` returned, or raise what it raised."""
        if ticket in self._aside:
            return self._lane.result(self._aside.pop(ticket))
        ok, value = self._outcomes.pop(ticket)
        if ok:
            return value
        raise value

    def call(self, work: Callable, *args, **kwargs) -> Any:
        """``work(*args, **kwargs)`` through this renderer, waiting for it."""
        return self.result(self.submit(work, *args, **kwargs))

    def discard(self, ticket: int) -> None:
        """The result of ``ticket`` is not wanted (nothing waits for it)."""
        if ticket in self._aside:
            self._lane.discard(self._aside.pop(ticket))
            return
        self._outcomes.pop(ticket, None)

    def submit_aside(self, work: Callable, *args, **kwargs) -> int:
        """Like :meth:`submit`, but run beside the calls submitted so far when the renderer can (see
        :attr:`runs_aside`) instead of after them."""
        if not self.runs_aside:
            return self.submit(work, *args, **kwargs)
        ticket = self._next
        self._next += 1
        self._aside[ticket] = self._lane.submit(work, *args, **kwargs)
        return ticket

    @property
    def lays_out_here(self) -> bool:
        """Whether the calls run in this process (so that :meth:`submit` returns only when one is done)."""
        return True

    def answers_waiting(self) -> list[int]:
        """Descriptors that turn readable when an answer arrives (the lane's: the others are done here)."""
        return self._lane.answers_waiting() if self._lane is not None else []

    def take_answers(self) -> None:
        """Take in the answers that have arrived, without waiting, so that no render process waits with a full
        pipe while the build waits for something else."""
        if self._lane is not None:
            self._lane.take_answers()

    @property
    def runs_aside(self) -> bool:
        """Whether :meth:`submit_aside` runs its call on a core of its own, beside the other calls."""
        return self._lane is not None and self._lane._alive

    def close(self) -> None:
        """Let go of what the renderer holds: the lane's process, if any."""
        if self._lane is not None and self._lane._alive:
            self._lane.close()


class RenderProcess(Renderer):
    """Runs the calls in a forked render process, one after another, while this process goes on.

    With a ``twin`` (the render process's own fork, made once it is warm), the
    calls given to :meth:`submit_aside` run there, beside the others.
    """

    def __init__(self, pid: int | None, requests: int, answers: int, twin: RenderProcess | None = None) -> None:
        super().__init__(lane=twin)
        self._pid = pid   # None for a twin: the render process is its parent, and reaps it
        self._requests = requests
        self._answers = answers
        self._inbox = bytearray()
        self._pending: dict[int, tuple[Callable, tuple, dict]] = {}
        self._discarded: set[int] = set()
        self._alive = True
        # A twin's calls go to the render process if the twin is lost (or was never forked) while that lives:
        # a twin ticket -> the render process's ticket for the call.
        self._fallback: RenderProcess | None = None
        self._moved: dict[int, int] = {}
        if twin is not None:
            twin._fallback = self

    @property
    def pid(self) -> int | None:
        """The render process's id."""
        return self._pid

    def answers_waiting(self) -> list[int]:
        return ([self._answers] if self._alive else []) + super().answers_waiting()

    def take_answers(self) -> None:
        if self._alive:
            try:
                poller = select.poll()
                poller.register(self._answers, select.POLLIN)
                while self._alive and poller.poll(0):
                    self._read_answers()
            except Exception:  # noqa: BLE001 - as in _send
                self._lost()
            while self._take_answer():
                pass
        super().take_answers()

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
        while ticket not in self._aside and ticket not in self._outcomes and ticket not in self._moved:
            if not self._alive:
                self._run_here()
                break
            if not self._take_answer():
                self._wait_for_bytes()
        if ticket in self._moved:
            return self._fallback.result(self._moved.pop(ticket))
        return super().result(ticket)

    def discard(self, ticket: int) -> None:
        if ticket in self._moved:
            self._fallback.discard(self._moved.pop(ticket))
            return
        if ticket in self._pending:
            self._discarded.add(ticket)
        super().discard(ticket)

    @property
    def lays_out_here(self) -> bool:
        return not self._alive

    def close(self) -> None:
        """End the render process and its twin, without waiting for what they have in hand."""
        super().close()
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
        if len(self._inbox) < _LENGTH.size or not self._pending:
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
            if self._pid is None:
                log.warning("the render process's twin ended early (or never began); its layouts go to the "
                            "render process")
            else:
                log.warning("the render process ended early; its layouts are done in the build process")
            self._stop()
            if self._fallback is not None:
                self._run_here()   # handed to the render process at once, while it lives

    def _run_here(self) -> None:
        """The calls still pending: to the render process (this being its lost twin) while that lives, else
        done here."""
        for ticket in sorted(self._pending):
            work, args, kwargs = self._pending.pop(ticket)
            if ticket in self._discarded:
                self._discarded.discard(ticket)
                continue
            if self._fallback is not None and self._fallback._alive:
                self._moved[ticket] = self._fallback.submit(work, *args, **kwargs)
            else:
                self._outcomes[ticket] = _run(work, args, kwargs)

    def _stop(self) -> None:
        """Close the pipes; then (the render process's own handle) end the render process and reap it.

        The render process takes SIGTERM (or, before it listens for that, the end of its requests) by ending and
        reaping its twin, then itself. One that has not ended within ``_CLOSE_SECONDS`` is killed with its twin
        (they lead a process group of their own).
        """
        self._alive = False
        for fd in (self._requests, self._answers):
            release_from_children(fd)
            try:
                os.close(fd)
            except OSError:
                pass
        if self._pid is None:   # a twin: its parent, the render process, ends and reaps it
            return
        try:
            os.kill(self._pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if _ended_within(self._pid, _CLOSE_SECONDS):
            return
        for kill in (os.killpg, os.kill):   # the group, with the twin; else the render process alone
            try:
                kill(self._pid, signal.SIGKILL)
                break
            except (ProcessLookupError, PermissionError):
                continue
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass


# How long a closed render process may take to end (it reads the end of its pipe or takes SIGTERM, ends and reaps
# its twin, and exits: milliseconds) before it is killed.
_CLOSE_SECONDS = 2.0


def _ended_within(pid: int, seconds: float) -> bool:
    """Whether child ``pid`` ends within ``seconds`` (reaped if so)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)


class BesideRenderer(Renderer):
    """A warm process's renderer with a helper beside it, a fork of this process, for one build.

    The calls given to :meth:`submit_aside` (the narrative and summary) run in the helper. The others (the notes,
    then the cover) run here, but only when their result is first asked for, in the order given: so the build can
    hand the sections over, from the notes' guessed pages, before it lays the notes out, and both are laid out at
    once.
    """

    def __init__(self, helper: RenderProcess) -> None:
        super().__init__(lane=helper)
        self._queue: dict[int, tuple[Callable, tuple, dict]] = {}

    def submit(self, work: Callable, *args, **kwargs) -> int:
        ticket = self._next
        self._next += 1
        self._queue[ticket] = (work, args, kwargs)
        return ticket

    def result(self, ticket: int) -> Any:
        if ticket not in self._aside:   # the calls given before it run first, as they would have
            for queued in sorted(q for q in self._queue if q <= ticket):
                work, args, kwargs = self._queue.pop(queued)
                self._outcomes[queued] = _run(work, args, kwargs)
        return super().result(ticket)

    def discard(self, ticket: int) -> None:
        self._queue.pop(ticket, None)
        super().discard(ticket)


def _start_helper() -> RenderProcess | None:
    """Fork a helper of this (warm) process that answers calls through a pair of pipes, or None."""
    pipes = _pipes(1)
    if pipes is None:
        return None
    requests_read, requests_write, answers_read, answers_write = pipes
    try:
        pid = os.fork()
    except OSError:
        _close(pipes)
        return None
    if pid == 0:   # pragma: no cover - the helper reports through the pipe
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C stops the build, which ends this process
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a worker's own handler must not unwind its code here
            _close([requests_write, answers_read])
            _answer(requests_read, answers_write)
        except BaseException:  # noqa: BLE001 - never unwind into the build's code
            code = 1
        finally:
            os._exit(code)
    _close([requests_read, answers_write])
    _build_ends(requests_write, answers_read)
    return RenderProcess(pid, requests_write, answers_read)


_started = False   # whether this process has started a render process already
# A render process's requests pipe holds a note's HTML whole (a Word note with pictures runs to hundreds of
# kilobytes), so the build hands it over without waiting for the render process to read (Linux; else 64 KiB).
_PIPE_BYTES = 1 << 20


def start_renderer(*, beside: bool = False) -> Renderer:
    """A :class:`RenderProcess` for a cold process with two cores or more, else a :class:`Renderer`.

    ``beside``: a warm process that builds one packet with both cores to itself (a web job's process) gets a
    :class:`BesideRenderer` instead, whose helper lays out the front sections while it lays out the notes.

    Only the first build of a process gets one: a process that builds again
    imports WeasyPrint once and is warm from then on, instead of paying the
    import again in a new render process for every build. Only a process with
    one thread forks it: a fork taken while another thread holds a lock (an
    import, the logging lock) could leave the render process waiting on that
    lock for ever.

    Once warm, the render process forks a twin, which answers the calls given to
    :meth:`RenderProcess.submit_aside`: the front sections are laid out there
    while the render process lays out the notes. The build process waits for
    both most of that time, so two layouts and the build's sandboxed children
    share the two cores.
    """
    global _started
    if (os.cpu_count() or 1) < 2 or threading.active_count() > 1:
        return Renderer()
    if _started or "weasyprint" in sys.modules:
        helper = _start_helper() if beside else None
        return Renderer() if helper is None else BesideRenderer(helper)
    pipes = _pipes(2)   # requests and answers, for the render process and for its twin
    if pipes is None:
        return Renderer()
    (requests_read, requests_write, answers_read, answers_write,
     twin_requests_read, twin_requests_write, twin_answers_read, twin_answers_write) = pipes
    try:
        pid = os.fork()
    except OSError:
        _close(pipes)
        return Renderer()
    if pid == 0:   # pragma: no cover - the render process reports through the pipe
        _close([requests_write, answers_read, twin_requests_write, twin_answers_read])
        _serve(requests_read, answers_write, (twin_requests_read, twin_answers_write))
    _close([requests_read, answers_write, twin_requests_read, twin_answers_write])
    _build_ends(requests_write, answers_read)
    _build_ends(twin_requests_write, twin_answers_read)
    _started = True
    twin = RenderProcess(None, twin_requests_write, twin_answers_read)
    return RenderProcess(pid, requests_write, answers_read, twin=twin)


def _pipes(pairs: int) -> list[int] | None:
    """``pairs`` times requests and answers: read and write end of each, in that order; None if out of them."""
    fds: list[int] = []
    try:
        for _ in range(2 * pairs):
            fds.extend(os.pipe())
    except OSError:
        _close(fds)
        return None
    return fds


def _build_ends(requests: int, answers: int) -> None:
    """Ready the build's ends of a pair: requests written without blocking, both pipes large enough for a note's
    layout whole, and closed at once in every process the build forks (sandboxed children, OCR batches)."""
    os.set_blocking(requests, False)
    for fd in (requests, answers):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        except (AttributeError, OSError):   # not Linux, or a lower limit: the default buffer serves
            pass
    keep_from_children(requests, answers)


def _close(fds) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _serve(requests: int, answers: int, twin_pipes: tuple[int, int]) -> None:  # pragma: no cover - render process
    """The render process: warm WeasyPrint, fork the twin, then answer requests until the build closes the pipe."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C stops the build, which ends this process
        # A process group of its own, with its twin, so that the build can end both at once. Such a group is
        # not the terminal's foreground group: a warning written to the terminal must not stop it (tostop).
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
        from . import render

        try:   # imports WeasyPrint, reads the print styles, loads the fonts, writes a PDF once
            render.html_to_pdf(render.render_exhibit_html("Progress note", _WARM_HTML))
        except Exception:  # noqa: BLE001 - the build's own call will meet the same problem and report it
            pass
        from . import sections  # noqa: F401 - the front sections' request unpickles into it
        # The render process lives for one build: what the warm-up loaded stays to its end, so the
        # collector need not walk it at every full collection (about 40 ms of a build's layouts).
        gc.freeze()
        # The build ends this process by SIGTERM (or by closing its pipe), without waiting for what it has in
        # hand; the twin is ended and reaped first (left to the system's init, it would stay a zombie where
        # init does not reap). Blocked while the twin is forked, so that no SIGTERM finds it unknown.
        twin: list[int] = []

        def end(*_) -> None:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})   # once only
            while twin:
                pid = twin.pop()
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            os._exit(0)

        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        signal.signal(signal.SIGTERM, end)
        try:
            pid = os.fork()
        except OSError:   # no twin: the build meets the end of its pipe and hands its calls to this process
            pid = None
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            _close([requests, answers])
            _answer(*twin_pipes)
            os._exit(0)
        if pid:
            twin.append(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _close(twin_pipes)
        try:
            _answer(requests, answers)
        finally:
            end()
    except BaseException:  # noqa: BLE001 - never unwind into the build's code
        code = 1
    finally:
        os._exit(code)


def _answer(requests: int, answers: int) -> None:  # pragma: no cover - render process and twin
    """Run each request read from ``requests`` and write its answer to ``answers``, until the build closes them."""
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


__all__ = ["BesideRenderer", "RenderProcess", "Renderer", "start_renderer"]
