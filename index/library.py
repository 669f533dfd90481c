"""The knowledge base as a person manages it: list, read, add and delete documents.

Everything here works on the corpus folder and the live index (whichever store holds
it, index.stores); nothing knows about the web UI. Uploaded files are checked at this boundary (size, type by
content, safe file name, duplicate content) and written atomically, so a build
running at the same moment never reads half a file. Adding or deleting only
changes the corpus folder; ``Library.rebuild`` brings the index up to date.

With ``Settings.watch`` (``policyqa serve --watch``) people also drop files into the folder
itself. Those get the same checks (``refused_files``): every rebuild then leaves out the
files an upload would have refused, with the reason. Their names are kept: the files are
theirs, in their folder.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from index.build import BuildReport, StageProgress, build_index
from index.embed import Embedder
from index.errors import DocumentError
from index.load import content_hash, corpus_files, decode_text, load_document, pages_needing_ocr
from index.metadata import check_date, check_title, read_overrides, write_override
from index.ocr import PICTURE_TYPES, OcrReader, check_picture, page_picture, picture_kind
from index.settings import Settings
from index.stores import Store, live_manifest, open_store
from index.types import Document

# The file types a person may upload, by extension, and the content each must have.
TEXT_TYPES = frozenset({".txt", ".md", ".markdown", ".html", ".htm"})
UPLOAD_TYPES = tuple(sorted(TEXT_TYPES | {".pdf", ".docx"} | set(PICTURE_TYPES)))
# Long names are cut: most file systems allow 255 bytes and a CJK character takes 3.
MAX_NAME_CHARS = 80
# Anything but letters (any script), digits and a few harmless marks becomes "_".
UNSAFE_NAME_CHARS = re.compile(r"[^\w\u3000-\u303f\uff08\uff09\-.()（） ]+")


@dataclass(frozen=True)
class DocumentInfo:
    """One row of the knowledge-base list."""

    doc_id: str
    title: str
    date: str | None
    chunks: int  # 0 while the file is not (yet) in the index
    indexed: bool


@dataclass(frozen=True)
class LibrarySummary:
    """What the live index holds, for health checks and page headers."""

    documents: int
    chunks: int
    model_id: str
    built_at: str


def sanitize_filename(name: str) -> str:
    """A safe file name for an uploaded file: no folders, no hidden files, no odd characters.

    Raises:
        DocumentError: nothing usable is left of the name, or its type is not allowed.
    """
    # Browsers send Windows paths too: keep only the last component of either kind.
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", str(name)))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    suffix = PurePosixPath(base).suffix.lower()
    allowed = "、".join(UPLOAD_TYPES)
    if not suffix:
        raise DocumentError(f"文件名“{base}”没有扩展名；可上传的类型：{allowed}。")
    if suffix not in UPLOAD_TYPES:
        raise DocumentError(f"不支持“{suffix}”类型的文件；可上传的类型：{allowed}。")
    stem = UNSAFE_NAME_CHARS.sub("_", base[: -len(suffix)]).strip(" ._")
    stem = stem[:MAX_NAME_CHARS].rstrip(" ._") or "文档"
    return stem + suffix


def check_content(name: str, data: bytes, max_bytes: int) -> None:
    """Check an upload's size and that its bytes are what its extension says.

    Raises:
        DocumentError: the file is empty, too large, or its content does not match its type.
    """
    if not data.strip():
        raise DocumentError(f"“{name}”是空文件。")
    if len(data) > max_bytes:
        raise DocumentError(f"“{name}”有 {len(data) / 2**20:.1f} MB，超过上传上限 {max_bytes / 2**20:.0f} MB。")
    suffix = PurePosixPath(name).suffix.lower()
    kind = sniff_binary(data)
    if suffix == ".pdf":
        if kind != "pdf":
            raise DocumentError(f"“{name}”的内容不是 PDF 文件（文件头不是 %PDF）。")
    elif suffix == ".docx":
        if not _is_docx(data):
            raise DocumentError(f"“{name}”的内容不是 Word（.docx）文件。")
    elif suffix in PICTURE_TYPES:
        if picture_kind(data) != PICTURE_TYPES[suffix]:
            raise DocumentError(f"“{name}”的内容不是 {PICTURE_TYPES[suffix].upper()} 图片。")
        check_picture(data, name)  # pixel count, before anything is decoded
    elif suffix in TEXT_TYPES:
        if kind is not None:
            raise DocumentError(f"“{name}”的内容是 {kind.upper()} 文件，不是文本；请使用正确的扩展名。")
        try:
            decode_text(data, name)
        except DocumentError as exc:
            raise DocumentError(f"“{name}”不是文本文件（{exc}）。") from exc
    else:  # sanitize_filename already refused other types
        raise DocumentError(f"不支持“{suffix}”类型的文件。")


def sniff_binary(data: bytes) -> str | None:
    """ "pdf" or "zip" when the bytes start like one (whatever the file name says), else None."""
    head = data.lstrip()[:8]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    return None


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False


class Library:
    """The documents of one corpus folder and its index.

    Args:
        settings: corpus and index folders, upload limit.
        index: returns the live index's store; by default the library opens it itself and
            reopens it whenever a build swaps in a new one (the server passes the
            pipeline's, so the index is held in memory once).
        embedder: the loaded model, used by ``rebuild`` so it is not loaded twice.
    """

    def __init__(
        self,
        settings: Settings,
        index: Callable[[], Store] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self._index = index or self._load_live_index
        self._loaded: Store | None = None
        self._counts: tuple[int, dict[str, int]] | None = None
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._checked: dict[tuple[str, int, int], str | None] = {}
        self._write_lock = threading.Lock()
        # Rebuilds from the web app and from the folder watch wait for each other instead of
        # one of them meeting the build lock and leaving a change unindexed.
        self._rebuild_lock = threading.Lock()

    # -- reading -----------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        """Every document of the index, then corpus files not (yet) indexed; sorted by file name."""
        store = self._index()
        counts = self._chunk_counts(store)
        rows = {d.doc_id: DocumentInfo(d.doc_id, d.title, d.date, counts.get(d.doc_id, 0), True) for d in store.heads()}
        for doc_id, _ in corpus_files(self.settings.corpus_dir):
            if doc_id not in rows:
                rows[doc_id] = DocumentInfo(doc_id, PurePosixPath(doc_id).stem, None, 0, False)
        return [rows[k] for k in sorted(rows)]

    def document(self, doc_id: str) -> Document:
        """The cleaned document with this id, as the index holds it.

        Raises:
            DocumentError: no indexed document has this id.
        """
        store = self._index()
        try:
            return store.document(doc_id)
        except KeyError:
            raise DocumentError(f"找不到文档“{doc_id}”，它可能已被删除。") from None

    def summary(self) -> LibrarySummary:
        """Counts from the live index's manifest (cheap: no index is loaded).

        Raises:
            DocumentError: there is no index yet.
            StoreUnavailableError: the Milvus server cannot be reached.
        """
        manifest = live_manifest(self.settings)
        if manifest is None:
            raise DocumentError("还没有索引；请先运行 `policyqa index`。")
        return LibrarySummary(len(manifest.documents), manifest.chunk_count, manifest.model_id, manifest.built_at)

    # -- changing ----------------------------------------------------------------

    def add_file(self, name: str, data: bytes) -> str:
        """Check an uploaded file and save it into the corpus folder; returns its document id.

        The index is not touched: call ``rebuild`` afterwards.
        Raises:
            DocumentError: wrong type or content, too large, unreadable, or a duplicate.
        """
        safe = sanitize_filename(name)
        check_content(safe, data, self.settings.max_upload_mb * 2**20)
        digest = content_hash(data)
        with self._write_lock:
            for doc_id, path in corpus_files(self.settings.corpus_dir):
                if self._file_hash(path) == digest:
                    raise DocumentError(f"“{safe}”与已有文档“{doc_id}”内容完全相同，无需重复上传。")
            target = self._free_path(safe)
            doc_id = target.relative_to(self.settings.corpus_dir).as_posix()
            try:
                if not self._check_scanned_pages(target.suffix, data, doc_id):
                    load_document(target, doc_id, data)
            except DocumentError as exc:
                raise DocumentError(f"无法读取“{safe}”：{exc}") from exc
            _write_atomically(target, data)
        return doc_id

    def delete(self, doc_id: str) -> None:
        """Delete a document's file from the corpus folder (the index changes on ``rebuild``).

        Raises:
            DocumentError: no corpus file has this id.
        """
        files = dict(corpus_files(self.settings.corpus_dir))
        path = files.get(doc_id)
        if path is None:
            raise DocumentError(f"语料文件夹中没有“{doc_id}”，无法删除。")
        try:
            path.unlink()
        except OSError as exc:
            raise DocumentError(f"无法删除“{doc_id}”：{exc.strerror}") from exc
        with self._write_lock:
            if doc_id in read_overrides(self.settings.corpus_dir):
                write_override(self.settings.corpus_dir, doc_id, None, None)

    def set_metadata(self, doc_id: str, title: str, date: str) -> tuple[str, str]:
        """Set a document's title and date (kept beside the documents, index.metadata); returns them as stored.

        The index changes on ``rebuild``. An empty date means "as the file says".
        Raises:
            DocumentError: no corpus file has this id, the title is empty or too long, or the date is not a date.
        """
        if doc_id not in dict(corpus_files(self.settings.corpus_dir)):
            raise DocumentError(f"语料文件夹中没有“{doc_id}”，无法修改。")
        title, date = check_title(title), check_date(date)
        with self._write_lock:
            write_override(self.settings.corpus_dir, doc_id, title, date or None)
        return title, date

    def file_path(self, doc_id: str) -> Path:
        """The original file of a document, for download.

        Raises:
            DocumentError: no corpus file has this id.
        """
        path = dict(corpus_files(self.settings.corpus_dir)).get(doc_id)
        if path is None:
            raise DocumentError(f"找不到文档“{doc_id}”，它可能已被删除。")
        return path

    def page_picture(self, doc_id: str, page: int) -> bytes:
        """A JPEG of page ``page`` (from 1) of a document's original file, for the viewer.

        Raises:
            DocumentError: the file is gone, changed since it was indexed, or cannot be rendered.
        """
        path = self.file_path(doc_id)
        if self._file_hash(path) != self.document(doc_id).content_hash:
            raise DocumentError(f"“{doc_id}”在建立索引后已被修改，请更新索引。")
        return page_picture(path.read_bytes(), path.suffix, page)

    def rebuild(self, progress: StageProgress | None = None) -> BuildReport:
        """Bring the index up to date with the corpus folder (incremental).

        With ``Settings.watch``, files that fail the upload checks are left out (``refused_files``).
        Raises:
            IndexLockedError: another process is building the index.
        """
        with self._rebuild_lock:
            refused = self.refused_files() if self.settings.watch else None
            return build_index(
                self.settings, embedder=self.embedder, progress=progress or (lambda *_: None), refused=refused
            )

    def refused_files(self) -> dict[str, str]:
        """Corpus files an upload would have refused, by document id, with the reason (Chinese).

        The checks are an upload's: size up to ``max_upload_mb``, content of the type the
        extension says, at most ``ocr_max_pages`` pages to OCR, and content not already in
        another file. Of identical files, the one
        already in the index stays; among new ones, the first by name.
        """
        manifest = live_manifest(self.settings)
        indexed = manifest.documents if manifest else {}
        refused: dict[str, str] = {}
        candidates = []
        for doc_id, path in corpus_files(self.settings.corpus_dir):
            try:
                problem, digest = self._check_file(doc_id, path), self._file_hash(path)
            except OSError:
                continue  # gone or unreadable: the build reports it
            if problem:
                refused[doc_id] = problem
            else:
                candidates.append((indexed.get(doc_id) != digest, doc_id, digest))
        holder: dict[str, str] = {}
        for _, doc_id, digest in sorted(candidates):  # files already indexed first, then by name
            if digest in holder:
                refused[doc_id] = f"“{doc_id}”与已有文档“{holder[digest]}”内容完全相同，未编入索引。"
            else:
                holder[digest] = doc_id
        return refused

    # -- helpers -----------------------------------------------------------------

    def _load_live_index(self) -> Store:
        if self._loaded is None or self._loaded.is_stale():
            self._loaded = open_store(self.settings, mmap=True)
        return self._loaded

    def _chunk_counts(self, store: Store) -> dict[str, int]:
        if self._counts is None or self._counts[0] != id(store):
            self._counts = (id(store), store.chunk_counts())
        return self._counts[1]

    def _check_file(self, doc_id: str, path: Path) -> str | None:
        """Why an upload of this file would be refused (size, type by content, pages to OCR), or None;
        cached by size and time."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._checked:
            try:
                if stat.st_size > self.settings.max_upload_mb * 2**20:  # without reading a huge file
                    raise DocumentError(
                        f"“{doc_id}”有 {stat.st_size / 2**20:.1f} MB，超过上传上限 {self.settings.max_upload_mb} MB。"
                    )
                data = path.read_bytes()
                check_content(doc_id, data, self.settings.max_upload_mb * 2**20)
                self._check_scanned_pages(path.suffix, data, doc_id)
                self._checked[key] = None
            except DocumentError as exc:
                self._checked[key] = f"{exc}未编入索引。"
        return self._checked[key]

    def _check_scanned_pages(self, suffix: str, data: bytes, doc_id: str) -> bool:
        """Refuse a PDF or picture with more pages to OCR than ``ocr_max_pages`` (an upload's
        check, and a dropped file's): counted here, read in the build, as OCR takes seconds a
        page (index.ocr). Returns True if the file has pages to OCR and OCR is on.

        Raises:
            DocumentError: too many pages to OCR, or a PDF or picture that cannot be read.
        """
        scanned = pages_needing_ocr(suffix, data, doc_id)
        if scanned and self.settings.ocr:
            OcrReader(None, max_pages=self.settings.ocr_max_pages).check_pages(scanned, doc_id)
            return True
        return False

    def _file_hash(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = content_hash(path.read_bytes())
        return self._hashes[key]

    def _free_path(self, name: str) -> Path:
        folder = self.settings.corpus_dir
        folder.mkdir(parents=True, exist_ok=True)
        stem, suffix = name[: -len(PurePosixPath(name).suffix)], PurePosixPath(name).suffix
        candidate, n = folder / name, 2
        while candidate.exists():
            candidate, n = folder / f"{stem}-{n}{suffix}", n + 1
        return candidate


def _write_atomically(path: Path, data: bytes) -> None:
    # A hidden temporary name: corpus_files skips dot-files, so a build never sees it.
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
