"""Watch the corpus folder and index what is added, changed or removed, without a restart.

    every ``interval_s``: snapshot = {document id: (size, modification time)} of the corpus files
    a snapshot unlike the last one indexed is a change; once the folder has not changed for
    ``settle_s`` (a file still being copied keeps changing), ``on_change`` runs (the server's:
    ``Library.rebuild``, which checks the files as uploads are checked, then builds incrementally)

The folder is polled rather than watched with inotify: a shared folder mounted over SMB or
NFS does not report changes made from other machines, and a stat per file every two seconds
costs nothing next to indexing. ``Debounce`` holds the decision, with no clock or thread of
its own, so it is tested with made-up times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from index.errors import IndexLockedError, PolicyQAError
from index.load import corpus_files

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[int, int]]


def snapshot(corpus_dir: Path) -> Snapshot:
    """Size and modification time (ns) of every corpus file, by document id."""
    found: Snapshot = {}
    for doc_id, path in corpus_files(corpus_dir):
        try:
            stat = path.stat()
        except OSError:  # removed between listing and stat: absent
            continue
        found[doc_id] = (stat.st_size, stat.st_mtime_ns)
    return found


class Debounce:
    """Decides when a changed folder has settled enough to be indexed.

    Args:
        settle_s: how long the folder must stay unchanged.
    """

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self.indexed: Snapshot | None = None  # what the index was last brought up to date with
        self._seen: Snapshot | None = None
        self._seen_since = 0.0

    def observe(self, current: Snapshot, now: float) -> bool:
        """Record a snapshot taken at ``now``; True when it should be indexed now.

        That is when it differs from the one last indexed and the folder has looked the same
        for ``settle_s``. Call ``indexed_as`` once it has been indexed.
        """
        if current != self._seen:
            self._seen, self._seen_since = current, now
        return current != self.indexed and now - self._seen_since >= self.settle_s

    def indexed_as(self, current: Snapshot) -> None:
        """The index now reflects this snapshot."""
        self.indexed = current


class FolderWatch:
    """A daemon thread polling ``corpus_dir`` and calling ``on_change`` when a change has settled.

    The first poll counts as a change (the folder may have changed while nothing watched it),
    so the index is checked once at start. ``on_change`` failing because another build holds
    the index is retried at the next poll; any other failure is logged and the change is not
    retried until the folder changes again.
    """

    def __init__(
        self,
        corpus_dir: Path,
        on_change: Callable[[], None],
        interval_s: float = 2.0,
        settle_s: float = 3.0,
    ) -> None:
        self.corpus_dir = corpus_dir
        self.on_change = on_change
        self.interval_s = interval_s
        self.debounce = Debounce(settle_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="policyqa-folder-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop polling (waits for a running ``on_change`` up to ``timeout_s``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def poll(self, now: float | None = None) -> bool:
        """Look at the folder once; index it if a change has settled. True if ``on_change`` ran."""
        current = snapshot(self.corpus_dir)
        if not self.debounce.observe(current, time.monotonic() if now is None else now):
            return False
        try:
            self.on_change()
        except IndexLockedError:
            log.info("the index is being built elsewhere; the folder change is indexed after it")
            return False
        except PolicyQAError as exc:
            log.warning("indexing the changed folder failed: %s", exc)
        except Exception:  # the watch must outlive any one failure; the log keeps the traceback
            log.exception("indexing the changed folder failed")
        self.debounce.indexed_as(current)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval_s)
