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

import contextlib
import importlib
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
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
        self._start(())
        self.submit(fn, *args, **kwargs)

    @classmethod
    def ahead(cls, *modules: str) -> Background[Any]:
        """A worker started before its call is known, importing ``modules`` meanwhile (the
        imports of a backtest take about 2 s); give it the call with :meth:`submit`, or
        :meth:`cancel` it."""
        worker = cls.__new__(cls)
        worker._start(modules)
        return worker

    def _start(self, modules: Sequence[str]) -> None:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join([_PACKAGE_ROOT, path] if path else [_PACKAGE_ROOT])}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "analytics._worker", *modules],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._sender: threading.Thread | None = None

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Background[T]:
        """Send the worker its one call, ``fn(*args, **kwargs)``; returns the worker."""
        if self._sender is not None:
            raise RuntimeError("a worker computes one call; start another")
        self._sender = threading.Thread(target=self._send, args=((fn, args, kwargs),),
                                        daemon=True)
        self._sender.start()
        return self

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
        if self._sender is None:
            raise RuntimeError("no call was submitted to this worker")
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
        """Stop the worker if it is still running, and close both pipes (a worker started
        ahead and never given a call still holds its input's)."""
        if self.running:
            self._process.kill()
        self._process.wait()
        if self._sender is not None:
            self._sender.join()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # the worker is gone: nothing to flush
                    pipe.close()


def serve(modules: Sequence[str] = ()) -> None:
    """The worker's side: import ``modules`` (while the caller prepares the call), read one
    call from stdin, write its outcome to stdout."""
    result_stream = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    for module in modules:
        with contextlib.suppress(ImportError):  # then the call itself reports what is wrong
            importlib.import_module(module)
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
