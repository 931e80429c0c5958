"""Interrupts that third-party code swallows still stop the run."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def interrupts_kept() -> Iterator[None]:
    """Run a block whose callee may catch KeyboardInterrupt (torch.export's strategies catch
    what their tracing raises: walk 38 saw a Ctrl-C during the ONNX export come out as
    TorchExportError, the fit go on, and the export cached as failed, so torch for good).
    A SIGINT or SIGTERM that arrives inside is handled as before (the
    Python handler in place runs) and noted; if the block then ends any other way, a
    KeyboardInterrupt is raised at its end. Outside the main thread, where handlers cannot
    be set, the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []
    previous: dict[int, Any] = {}

    def noted(signum: int, frame: Any) -> None:
        seen.append(signum)
        previous[signum](signum, frame)

    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):  # a default or ignored signal is the OS's to act on
            previous[sig] = handler
            signal.signal(sig, noted)
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        if seen:
            raise KeyboardInterrupt from e
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if seen:
        raise KeyboardInterrupt
