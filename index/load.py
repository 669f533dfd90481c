"""Read the files of a corpus folder into cleaned Documents.

Each file type has a reader that turns bytes into text; everything after that
(cleaning, titles, dates) is shared. A file we cannot read is reported and
skipped: one bad file never stops the corpus from indexing.

PDFs and pictures have pages: their readers give one text per page, and the
Document records where each page begins. A PDF page without a usable text layer
and every picture are read by OCR (index.ocr) when an ``OcrReader`` is given.
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from index.clean import clean_document
from index.errors import DocumentError
from index.ocr import PICTURE_TYPES, OcrReader, PageText, check_picture, usable_text
from index.types import Document

log = logging.getLogger(__name__)

# A decoded text with more than this share of control, private-use or
# unassigned characters is binary that happened to decode.
MAX_JUNK_SHARE = 0.01
# Formats that GB18030 would happily "decode" as text.
FOREIGN_FORMATS = ((b"%PDF", "PDF"), (b"PK\x03\x04", "ZIP/DOCX"))
BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of the index, with the reason in words."""

    path: str
    reason: str


def decode_text(data: bytes, name: str = "file") -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 with BOM or GB18030.

    Raises:
        DocumentError: the bytes are binary or in no supported encoding.
    """
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding), name)
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"{name}: 文件开头标明 {encoding} 编码，但内容无法按此解码"
                    f"（starts with a {encoding} mark but does not decode: {exc}）"
                ) from exc
    for magic, kind in FOREIGN_FORMATS:
        if data.startswith(magic):
            raise DocumentError(
                f"{name}: 这是 {kind} 文件，不是文本，请改用 {kind} 扩展名"
                f"（is a {kind} file, not text; give it the {kind} file extension）"
            )
    if b"\x00" in data[:8192]:
        raise DocumentError(
            f"{name}: 看起来是二进制文件，不是文本文档（looks binary (contains NUL bytes), not a text document）"
        )
    for encoding in ("utf-8", "gb18030"):
        try:
            return _checked(data.decode(encoding), name)
        except UnicodeDecodeError:
            continue
    raise DocumentError(
        f"{name}: 既不是 UTF-8 也不是 GB18030 编码的文本，请转换为 UTF-8 后重新添加"
        "（not UTF-8 or GB18030 text; convert it to UTF-8 and add it again）"
    )


def _checked(text: str, name: str) -> str:
    if not text:
        return text
    junk = sum(1 for ch in text if unicodedata.category(ch) in {"Cc", "Co", "Cn"} and ch not in "\t\n\r\f")
    if junk / len(text) > MAX_JUNK_SHARE:
        raise DocumentError(
            f"{name}: 看起来是二进制文件"
            f"（含 {junk} 个控制字符），不是文本文档（looks binary ({junk} control characters), not a text document）"
        )
    return text


def read_pdf(data: bytes, name: str, ocr: OcrReader | None = None) -> list[PageText]:
    """The pages of a PDF: the text layer, one line per extracted line; pages without a
    usable one are read by ``ocr`` (left as they are without it).

    Raises:
        DocumentError: the PDF is encrypted or damaged, has too many pages to OCR, or is
            all scanned pages and OCR is off.
    """
    texts = pdf_text_pages(data, name)
    pages = [PageText(text) for text in texts]
    scanned = [i for i, text in enumerate(texts) if not usable_text(text)]
    if scanned and ocr is not None and ocr.enabled:
        for i, page in ocr.read_pdf_pages(data, name, scanned).items():
            pages[i] = page
    elif scanned and not any(usable_text(text) for text in texts):
        raise DocumentError(
            f"{name}: PDF 没有文字层，是扫描件；需要开启文字识别（设置 ocr）"
            "（the PDF has no text layer, it is a scan: turn OCR on with the setting ocr）"
        )
    return pages


def pdf_text_pages(data: bytes, name: str) -> list[str]:
    """The text layer of each page of a PDF (pypdf), "" for a page without one.

    Raises:
        DocumentError: the PDF is encrypted or damaged.
    """
    try:
        from pypdf import PdfReader
    except ImportError as exc:  # pragma: no cover - pypdf is a dependency
        raise DocumentError(f"{name}: PDF support needs the pypdf package") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError(
                f"{name}: PDF 已加密，请另存一份未加密的副本后重新添加"
                "（the PDF is encrypted; save an unprotected copy and add it again）"
            )
        return [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    # A damaged file can make pypdf raise almost anything; it must cost one file, not the build.
    except Exception as exc:
        raise DocumentError(
            f"{name}: PDF 文件已损坏或无法读取（not a readable PDF: {type(exc).__name__}: {exc}）"
        ) from exc


def read_picture(data: bytes, name: str, ocr: OcrReader | None = None) -> list[PageText]:
    """The pages of a PNG, JPEG or TIFF picture of text, read by OCR.

    Raises:
        DocumentError: not a readable picture, too large, too many pages, or OCR is off.
    """
    if ocr is None or not ocr.enabled:
        check_picture(data, name)
        raise DocumentError(
            f"{name}: 图片中的文字需要文字识别（OCR），但 OCR 已关闭（设置 ocr）"
            "（the text of a picture needs OCR, which is turned off: setting ocr）"
        )
    return ocr.read_picture_pages(data, name)


def pages_needing_ocr(suffix: str, data: bytes, name: str) -> int:
    """How many pages of a file will be read by OCR (for upload checks; nothing is recognized).

    Raises:
        DocumentError: a PDF or picture that cannot be read.
    """
    suffix = suffix.lower()
    if suffix == ".pdf":
        return sum(1 for text in pdf_text_pages(data, name) if not usable_text(text))
    if suffix in PICTURE_TYPES:
        return check_picture(data, name)
    return 0


def read_docx(data: bytes, name: str) -> str:
    """The paragraphs of a DOCX file, one per line."""
    import zipfile

    try:
        import docx
    except ImportError as exc:  # pragma: no cover - python-docx is a dependency
        raise DocumentError(f"{name}: DOCX support needs the python-docx package") from exc
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if "word/document.xml" not in {info.filename for info in infos}:
                raise DocumentError(
                    f"{name}: 这是 ZIP 压缩包，不是 Word 文档"
                    "（a ZIP file but not a Word document: no word/document.xml）"
                )
            unpacked = sum(info.file_size for info in infos)
            packed = sum(info.compress_size for info in infos) or 1
        if unpacked > MAX_DOCX_UNPACKED_BYTES or unpacked / packed > MAX_DOCX_COMPRESSION_RATIO:
            raise DocumentError(
                f"{name}: 解压后达 {unpacked} 字节（原大小的 {unpacked // packed} 倍），疑似 ZIP 炸弹，已拒绝"
                f"（the DOCX would unpack to {unpacked} bytes, {unpacked // packed}× its size;"
                " refused as a possible ZIP bomb）"
            )
        document = docx.Document(io.BytesIO(data))
        return "\n".join(p.text for p in document.paragraphs)
    except DocumentError:
        raise
    # Broken XML inside the ZIP surfaces as lxml's XMLSyntaxError, among others.
    except Exception as exc:
        raise DocumentError(
            f"{name}: DOCX 文件已损坏或无法读取（not a readable DOCX file: {type(exc).__name__}: {exc}）"
        ) from exc


# A DOCX whose parts unpack to more than this, or compress better than this ratio
# (real documents are ≈ 3–10×), is treated as a ZIP bomb and never unpacked.
MAX_DOCX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_DOCX_COMPRESSION_RATIO = 200

# extension → (reader of bytes to text, whether the text is HTML)
READERS: dict[str, tuple[Callable[[bytes, str], str], bool | None]] = {
    ".txt": (decode_text, None),
    ".md": (decode_text, None),
    ".markdown": (decode_text, None),
    ".html": (decode_text, True),
    ".htm": (decode_text, True),
    ".docx": (read_docx, False),
}
# extension → reader of bytes to pages (with OCR when a reader is given)
PAGED_READERS: dict[str, Callable[[bytes, str, OcrReader | None], list[PageText]]] = {
    ".pdf": read_pdf,
    **dict.fromkeys(PICTURE_TYPES, read_picture),
}


def supported(path: Path) -> bool:
    """True if the file's extension has a reader."""
    return path.suffix.lower() in READERS or path.suffix.lower() in PAGED_READERS


def content_hash(data: bytes) -> str:
    """The sha256 hex digest of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


# A document repeating this many lines is worth a word in the build's log (a few repeated
# headings are normal; a line pasted a million times is a broken export).
REPEATED_LINES_TO_MENTION = 100


def load_document(path: Path, doc_id: str, data: bytes | None = None, ocr: OcrReader | None = None) -> Document:
    """Read and clean one file.

    Args:
        path: the file (its extension picks the reader).
        doc_id: the document's id.
        data: the file's bytes, if already read.
        ocr: reads scanned PDF pages and pictures; None: no OCR.
    Raises:
        DocumentError: the file is unsupported, binary, undecodable or has no text.
    """
    suffix = path.suffix.lower()
    if not supported(path):
        known = [*READERS, *PAGED_READERS]
        raise DocumentError(
            f"{doc_id}: 不支持 {path.suffix!r} 类型的文件，请使用 {'、'.join(known)}"
            f"（unsupported file type {path.suffix!r}; use one of {', '.join(known)}）"
        )
    if data is None:
        data = path.read_bytes()
    if not data.strip():
        raise DocumentError(f"{doc_id}: 文件是空的（the file is empty）")
    ocr_pages: tuple[int, ...] = ()
    if suffix in PAGED_READERS:
        pages = PAGED_READERS[suffix](data, doc_id, ocr)
        # A form feed inside a page would read as a page break.
        cleaned = clean_document("\f".join(p.text.replace("\f", "\n") for p in pages), is_html=False, paged=True)
        ocr_pages = tuple(number for number, page in enumerate(pages, start=1) if page.ocr)
    else:
        reader, is_html = READERS[suffix]
        cleaned = clean_document(reader(data, doc_id), is_html=is_html)
    if cleaned.repeated_lines >= REPEATED_LINES_TO_MENTION:
        log.warning(
            "%s: 去除了 %d 行重复内容（%d repeated lines dropped）",
            doc_id,
            cleaned.repeated_lines,
            cleaned.repeated_lines,
        )
    if not cleaned.text.strip():
        raise DocumentError(f"{doc_id}: 清理后没有剩下任何正文（no text left after cleaning）")
    return Document(
        doc_id=doc_id,
        title=cleaned.title or Path(doc_id).stem,
        date=cleaned.date,
        author=cleaned.author,
        text=cleaned.text,
        content_hash=content_hash(data),
        page_starts=cleaned.page_starts,
        ocr_pages=ocr_pages,
    )


def corpus_files(corpus_dir: Path) -> Iterator[tuple[str, Path]]:
    """(doc id, path) of every supported file under the corpus folder, sorted, hidden files skipped."""
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts) and supported(path):
            yield rel.as_posix(), path


def check_size(doc_id: str, size: int, max_bytes: int) -> None:
    """Refuse a corpus file larger than ``max_bytes`` (``Settings.max_document_mb``).

    Raises:
        DocumentError: the file is too large, with its size and the limit.
    """
    if size > max_bytes:
        raise DocumentError(
            f"{doc_id}: 文件 {size / 2**20:.0f} MB，超过允许的 {max_bytes / 2**20:.0f} MB"
            "（设置 max_document_mb）"
            f"（{size / 2**20:.0f} MB is more than the {max_bytes / 2**20:.0f} MB allowed）"
        )


def load_corpus(
    corpus_dir: Path, max_bytes: int | None = None, ocr: OcrReader | None = None
) -> tuple[list[Document], list[SkippedFile]]:
    """Load every supported file of a corpus folder; unreadable ones are skipped with a warning.

    Args:
        corpus_dir: the folder.
        max_bytes: files larger than this are skipped (None: no limit).
        ocr: reads scanned PDF pages and pictures; None: no OCR.
    """
    documents: list[Document] = []
    skipped: list[SkippedFile] = []
    for doc_id, path in corpus_files(corpus_dir):
        try:
            if max_bytes is not None:
                check_size(doc_id, path.stat().st_size, max_bytes)
            documents.append(load_document(path, doc_id, ocr=ocr))
        except (DocumentError, OSError) as exc:
            log.warning("skipped %s", exc)
            skipped.append(SkippedFile(doc_id, str(exc)))
    return documents, skipped
