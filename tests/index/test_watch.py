"""The folder watch: snapshots of real files, and when a change has settled (explicit times)."""

from __future__ import annotations

import os

from index.errors import EmptyCorpusError, IndexLockedError
from index.watch import Debounce, FolderWatch, snapshot


def test_a_snapshot_lists_corpus_files_with_size_and_time(tmp_path):
    (tmp_path / "a.txt").write_text("一", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("二二", encoding="utf-8")
    (tmp_path / ".upload-123").write_text("half", encoding="utf-8")  # an upload being written
    (tmp_path / "picture.png").write_bytes(b"\x89PNG")  # pictures are read by OCR
    (tmp_path / "table.xlsx").write_bytes(b"PK")  # not a supported type
    found = snapshot(tmp_path)
    assert sorted(found) == ["a.txt", "picture.png", "sub/b.md"]
    assert found["sub/b.md"][0] == len("二二".encode())


def test_a_change_is_indexed_only_after_the_folder_settles():
    debounce = Debounce(settle_s=3.0)
    first = {"a.txt": (1, 1)}
    assert not debounce.observe(first, now=0.0)  # new: wait for it to settle
    assert not debounce.observe(first, now=2.9)
    assert debounce.observe(first, now=3.0)
    debounce.indexed_as(first)
    assert not debounce.observe(first, now=10.0)  # nothing new


def test_a_file_still_growing_postpones_indexing():
    debounce = Debounce(settle_s=3.0)
    debounce.indexed_as({})
    for second, size in enumerate([10, 20, 30, 40]):  # copied over four seconds
        assert not debounce.observe({"big.pdf": (size, second)}, now=float(second))
    assert not debounce.observe({"big.pdf": (40, 3)}, now=5.9)
    assert debounce.observe({"big.pdf": (40, 3)}, now=6.0)


def test_a_removal_is_a_change_too():
    debounce = Debounce(settle_s=1.0)
    debounce.indexed_as({"a.txt": (1, 1), "b.txt": (2, 2)})
    assert not debounce.observe({"a.txt": (1, 1)}, now=0.0)
    assert debounce.observe({"a.txt": (1, 1)}, now=1.0)


class Recorder:
    """Records the folder's files each time the watch asks for a rebuild; may fail as told."""

    def __init__(self, folder, failures=()):
        self.folder = folder
        self.failures = list(failures)
        self.seen = []

    def __call__(self):
        self.seen.append(sorted(p.name for p in self.folder.iterdir()))
        if self.failures:
            raise self.failures.pop(0)


def test_the_watch_rebuilds_once_per_settled_change(tmp_path):
    (tmp_path / "a.txt").write_text("一", encoding="utf-8")
    recorder = Recorder(tmp_path)
    watch = FolderWatch(tmp_path, recorder, interval_s=1.0, settle_s=2.0)
    assert not watch.poll(now=0.0)
    assert watch.poll(now=2.0)  # the check at start
    (tmp_path / "b.txt").write_text("二", encoding="utf-8")
    assert not watch.poll(now=3.0)
    (tmp_path / "b.txt").write_text("二三", encoding="utf-8")  # still being written
    assert not watch.poll(now=4.0)
    assert not watch.poll(now=5.0)
    assert watch.poll(now=6.0)
    assert not watch.poll(now=9.0)
    os.remove(tmp_path / "a.txt")
    assert not watch.poll(now=10.0)
    assert watch.poll(now=12.0)
    assert recorder.seen == [["a.txt"], ["a.txt", "b.txt"], ["b.txt"]]


def test_a_locked_index_is_retried_and_other_failures_are_not(tmp_path):
    (tmp_path / "a.txt").write_text("一", encoding="utf-8")
    recorder = Recorder(tmp_path, failures=[IndexLockedError("busy"), EmptyCorpusError("empty")])
    watch = FolderWatch(tmp_path, recorder, interval_s=1.0, settle_s=0.0)
    assert not watch.poll(now=0.0)  # locked: not indexed, tried again
    assert watch.poll(now=1.0)  # failed for good: logged, not retried until the folder changes
    assert not watch.poll(now=2.0)
    assert len(recorder.seen) == 2


def test_the_thread_polls_until_stopped(tmp_path):
    (tmp_path / "a.txt").write_text("一", encoding="utf-8")
    recorder = Recorder(tmp_path)
    watch = FolderWatch(tmp_path, recorder, interval_s=0.05, settle_s=0.0)
    watch.start()
    try:
        for _ in range(200):
            if recorder.seen:
                break
            watch._stop.wait(0.05)
    finally:
        watch.stop()
    assert recorder.seen == [["a.txt"]]
    assert not watch._thread.is_alive()
