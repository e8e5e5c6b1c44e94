"""SIGINT/SIGTERM during training: finish the optimizer step, save last/, raise TrainingInterrupted.

The CLI prints how to resume and exits with 128 + the signal number (130, 143). A second signal
stops at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from smolmamba.train.distributed import DistInfo, all_reduce_sum


class TrainingInterrupted(Exception):
    """Training stopped by SIGINT/SIGTERM after saving `path` (<output>/last)."""

    def __init__(self, path: Path, signum: int):
        self.path, self.signum = Path(path), signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}: saved {path}; resume with resume=auto")


class StopOnSignal:
    """Context: the first SIGINT/SIGTERM sets a flag checked after each step; a second one kills.

    Installs handlers only in the main thread (signal.signal refuses others); restores them on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum, self._old = None, {}

    def _handle(self, signum, frame):
        if self.signum is not None:  # second signal: default action now
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        self.signum = signum
        print(f"received {signal.Signals(signum).name}: saving last/ after this step "
              f"(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def requested(self, info: DistInfo) -> int | None:
        """The signal number if any rank got one (one scalar all-reduce per call under DDP), else None."""
        if info.distributed and all_reduce_sum([float(self.signum or 0)], info)[0] > 0:
            return self.signum or int(signal.SIGTERM)
        return self.signum
