"""Run one function of the analytics core in a second Python process, beside the caller.

The analysis is single-threaded where it matters (pandas, one OpenMP thread for gradient
boosting, see :mod:`analytics.scoring`), so on a machine with two or more cores the
backtest, which depends on nothing the analysis computes, can run at the same time.

The worker is a fresh interpreter (``python -m analytics._worker``), not a fork: a fork
of the threaded web app, or of a process whose OpenMP runtime has started threads, can
deadlock. The call (a module-level function and its arguments) goes to the worker's stdin
as a pickle, written by a thread so the caller goes on at once; the result, or the
exception it raised, comes back on the worker's stdout. Anything the worker prints goes to
stderr, so it cannot corrupt that stream.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["Background", "BackgroundFailed", "serve"]

T = TypeVar("T")
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class BackgroundFailed(RuntimeError):
    """The worker process ended without a result (it could not start, or was killed)."""


class Background(Generic[T]):
    """``fn(*args, **kwargs)`` computed in a worker process; :meth:`result` waits for it.

    ``fn`` must be importable by name (a module-level function). :meth:`result` returns
    its value or re-raises its exception; it raises :class:`BackgroundFailed` when the
    worker died without answering. :meth:`cancel` stops the worker.
    """

    def __init__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> None:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join([_PACKAGE_ROOT, path] if path else [_PACKAGE_ROOT])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "analytics._worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._sender = threading.Thread(target=self._send, args=((fn, args, kwargs),),
                                        daemon=True)
        self._sender.start()

    def _send(self, call: tuple[Callable[..., T], tuple[Any, ...], dict[str, Any]]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            with stdin:
                pickle.dump(call, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # the worker died, or the call does not pickle: the worker gets
            pass           # no whole call and ends, and result() raises BackgroundFailed

    def result(self) -> T:
        """Wait for the worker; its return value, or its exception raised here."""
        stdout = self._process.stdout
        assert stdout is not None
        try:
            with stdout:
                ok, value = pickle.load(stdout)
        except (EOFError, pickle.UnpicklingError) as exc:
            try:  # it closed its output, so it is ending
                code = self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.cancel()
                code = self._process.returncode
            raise BackgroundFailed(
                f"the worker process ended without a result (exit code {code})") from exc
        finally:
            self._sender.join()
            self._process.wait()
        if not ok:
            raise value
        return value

    @property
    def running(self) -> bool:
        """Whether the worker process is still alive."""
        return self._process.poll() is None

    def cancel(self) -> None:
        """Stop the worker if it is still running."""
        if self.running:
            self._process.kill()
        self._process.wait()
        self._sender.join()
        if self._process.stdout is not None:
            self._process.stdout.close()


def serve() -> None:
    """The worker's side: read one call from stdin, write its outcome to stdout."""
    result_stream = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    try:
        fn, args, kwargs = pickle.load(sys.stdin.buffer)
    except Exception:  # the caller could not send the whole call; it raises BackgroundFailed
        sys.exit(2)
    try:
        outcome: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except Exception as exc:  # handed to the caller, who raises it
        outcome = (False, exc)
    try:
        payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable result or exception
        payload = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    with result_stream:
        result_stream.write(payload)
