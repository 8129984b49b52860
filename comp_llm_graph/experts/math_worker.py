"""The sympy math expert's own process: exact arithmetic off the event loop, under a time limit.

Why a process: sympy's exact arithmetic is pure Python that holds the GIL, so evaluating on the
event loop (or in one of its threads) freezes every other branch of every run ("9^9^7" took
11 s), and a thread cannot be stopped when it runs long. A process can be killed.

Why one persistent `subprocess` that runs this file, rather than `multiprocessing` or a
`ProcessPoolExecutor`:
- sympy is imported once (0.3-1 s), not per question, and only when an expression needs it;
- a timeout is handled by `Popen.kill()`: no pool to mark broken and rebuild, nothing pickled;
- multiprocessing's spawn and forkserver re-import the caller's `__main__`, which reruns (or
  breaks) a script without an `if __name__ == "__main__"` guard. This file is run by path with
  the script and working folders off `sys.path`, so the child imports only the stdlib and sympy:
  not the caller's modules, nor this package (whose `__init__` loads the experts).

The protocol: one JSON line per request (the expression) on the worker's stdin, one per reply
on its stdout; a reader thread turns replies into a queue, so a wait can time out on any
platform. `SympyWorker` serves one request at a time (a lock); a timed-out worker is killed and
a dead one replaced on the next request; `atexit` kills it, and it exits by itself when its
stdin closes (the parent is gone). `shared_worker()` is the one worker of this process, shared
by all experts.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import queue
import subprocess
import sys
import threading
import weakref

__all__ = ["DEFAULT_TIMEOUT", "EvaluationError", "EvaluationTimeout", "SympyWorker",
           "evaluate_exactly", "shared_worker"]

DEFAULT_TIMEOUT = 2.0
"""Seconds one evaluation may take in the worker before it is killed (startup not included)."""

MEMORY_LIMIT = 2 << 30
"""Bytes of address space the worker may use (Linux): a runaway value fails, not the machine."""

START_TIMEOUT = 60.0
"""Seconds the worker may take to start and import sympy (a loaded 2-core machine is slow)."""

_BOOT = "import runpy, sys; del sys.path[0]; runpy.run_path(sys.argv[1], run_name='__main__')"
_RERAISED = {e.__name__: e for e in (ValueError, TypeError, ZeroDivisionError, OverflowError,
                                     ArithmeticError, SyntaxError)}


class EvaluationError(ValueError):
    """The worker gave no value: it failed inside, timed out, died or could not start."""


class EvaluationTimeout(EvaluationError):
    """The evaluation ran past its time limit; the worker was killed."""


def evaluate_exactly(expression: str) -> str:
    """(In the worker) the exact value: an integer, a fraction with its decimal, or a decimal."""
    import math

    from sympy import S, sympify

    value = sympify(expression.replace("%", "/100"), rational=True)
    if not value.is_number:
        raise ValueError(f"not a number: {expression!r}")
    if value.is_finite is not True or value.has(S.NaN):  # 1/0 is zoo, 0/0 nan: no exact value
        raise ValueError(f"{expression!r} has no value (a division by zero)")
    if value.is_Integer:
        return str(int(value))
    if value.is_Rational:
        return f"{value} ({float(value):.6g})"
    number = float(value.evalf())
    return f"{number:.6g}" if math.isfinite(number) else str(value.evalf(6))  # not "inf"


def run_program_request(source: str) -> str:
    """(In the worker) a program of thought's `answer` (`program.py`, loaded by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "comp_llm_program", os.path.join(os.path.dirname(os.path.abspath(__file__)), "program.py"))
    program = sys.modules.get("comp_llm_program")
    if program is None:
        program = importlib.util.module_from_spec(spec)
        sys.modules["comp_llm_program"] = program
        spec.loader.exec_module(program)
    try:
        return program.format_number(program.run_program(source))
    except program.ProgramError as exc:
        raise ValueError(str(exc)) from None


def _limit_memory() -> None:
    """(In the worker) at most `MEMORY_LIMIT` bytes of address space, where the OS allows."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def serve() -> None:
    """(In the worker) answer requests from stdin until it closes."""
    import signal

    import sympy  # noqa: F401  (imported once, before saying ready)

    _limit_memory()
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # the caller bounds the digits; don't refuse 4,300+
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent; stdin EOF ends us
    out, sys.stdout = sys.stdout, sys.stderr  # nothing else may write to the reply stream
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = {"value": run_program_request(request["program"])
                     if isinstance(request, dict) else evaluate_exactly(request)}
        except Exception as exc:  # noqa: BLE001 - every failure is a reply, not a dead worker
            reply = {"error": type(exc).__name__, "message": str(exc)[:300]}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def _read_replies(stream, replies: queue.Queue) -> None:
    with stream:
        for line in stream:
            try:
                replies.put(json.loads(line))
            except ValueError:
                continue
    replies.put(None)  # end of file: the worker is gone


class SympyWorker:
    """A client of one worker process, started on first use and replaced when it dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue = queue.Queue()
        self._loop_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs, else None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def evaluate(self, expression: str | dict[str, str],
                 timeout: float = DEFAULT_TIMEOUT) -> str:
        """The value of `expression`, or of `{"program": source}`'s `answer` (`program.py`).

        Blocks the calling thread (never call it on a loop).

        Raises:
            EvaluationTimeout: it took longer than `timeout` seconds (the worker is killed).
            EvaluationError: the worker died twice or could not start, or sympy failed with
                an unexpected error; sympy's ValueError, TypeError, ... are raised as such.
        """
        with self._lock:
            for _attempt in (1, 2):  # a second try only when the worker died, not on a timeout
                replies = self._ensure_started()
                try:
                    self._proc.stdin.write(json.dumps(expression) + "\n")
                    self._proc.stdin.flush()
                    reply = replies.get(timeout=timeout)
                except (OSError, ValueError):  # a broken pipe: it died since the last request
                    reply = None
                except queue.Empty:
                    self.close()
                    raise EvaluationTimeout(f"evaluation took longer than {timeout:g} s") from None
                if reply is not None:
                    break
                self.close()
            else:
                raise EvaluationError("the sympy worker died while evaluating")
        if "value" in reply:
            return reply["value"]
        raise _RERAISED.get(reply["error"], EvaluationError)(reply["message"])

    async def aevaluate(self, expression: str | dict[str, str],
                        timeout: float = DEFAULT_TIMEOUT) -> str:
        """`evaluate` from a thread, so the event loop runs on; one thread per loop waits."""
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.setdefault(loop, asyncio.Lock())
        async with lock:
            return await asyncio.to_thread(self.evaluate, expression, timeout)

    def _ensure_started(self) -> queue.Queue:
        if self._proc is not None and self._proc.poll() is None:
            return self._replies
        self.close()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        except OSError as exc:
            raise EvaluationError(f"the sympy worker could not start: {exc}") from exc
        self._replies = queue.Queue()
        threading.Thread(target=_read_replies, args=(self._proc.stdout, self._replies),
                         name="sympy-worker-replies", daemon=True).start()
        try:
            ready = self._replies.get(timeout=START_TIMEOUT)
        except queue.Empty:
            ready = None
        if ready != {"ready": True}:
            self.close()
            raise EvaluationError("the sympy worker could not start")
        return self._replies

    def close(self) -> None:
        """Kill the worker now (the next request starts a new one)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for close in (proc.kill, proc.stdin.close):
            try:
                close()
            except OSError:
                pass
        proc.wait()

    def _forget(self) -> None:  # in a forked child: the worker, and any lock held, are the parent's
        self._proc, self._lock = None, threading.Lock()
        self._loop_locks = weakref.WeakKeyDictionary()


_shared: SympyWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> SympyWorker:
    """The process-wide worker client (its process starts on the first evaluation)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SympyWorker()
            atexit.register(_shared.close)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_shared._forget)
        return _shared


if __name__ == "__main__":
    serve()
