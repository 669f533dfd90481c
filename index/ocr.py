"""Text of scanned pages: PDF pages without a usable text layer, and pictures of pages.

    page ─ PDFium renders it (pypdfium2) / Pillow opens the picture ─→ pixels ─→ sha256
         ─→ in the cache? ─ no ─→ RapidOCR (PP-OCRv4 in ONNX Runtime): detect lines, turn a
            sideways or upside-down page upright, recognize ─→ boxes with confidences
         ─→ confident boxes only ─→ paragraphs in reading order (index.layout)

Everything runs offline: the models ship inside the ``rapidocr-onnxruntime`` wheel.
Recognition is slow (seconds per page), so results are cached in ``<cache_dir>/ocr.sqlite``:

    pages(image_hash, result)         the boxes, texts and confidences of one page image,
                                      keyed by the sha256 of its pixels: a page is read once
    files(file_hash, page, image_hash)  which image a file's page renders to, so a rebuild
                                      of an unchanged file does not even render it again

The cache keeps every box with its confidence; the threshold ``MIN_CONFIDENCE`` is applied
when text is made from it, so changing it needs no new recognition.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.errors import DocumentError
from index.layout import Box, paragraphs

if TYPE_CHECKING:  # Pillow and PDFium load where a page is first drawn
    from PIL.Image import Image
    from pypdfium2 import PdfDocument, PdfPage

    from index.settings import Settings

log = logging.getLogger(__name__)

# Pages are rendered, and pictures scaled down, to this many pixels on the long side:
# RapidOCR shrinks anything larger to it before detection (its max_side_len), and on an
# A4 page it is 171 dpi, where 10-point text is 24 pixels high.
RENDER_LONG_SIDE = 2000
# Pictures larger than this are refused before they are decoded (a 600 dpi A4 scan is 35
# million pixels; Pillow's own bomb warning starts at 89 million).
MAX_PIXELS = 60_000_000
# Boxes the recognizer is less sure of than this are left out of the text, so answers never
# quote them (bench/ocr.py measures it: see README, "Scanned documents").
MIN_CONFIDENCE = 0.8
# A PDF page whose text layer has fewer letters than this (or mostly unreadable characters,
# from fonts without a Unicode map) is read from its image instead.
MIN_TEXT_LETTERS = 10
MAX_JUNK_SHARE = 0.2
# A page is taken to be sideways when more of its detected lines stand upright (height at
# least this many times the width) than lie flat; upside down when most recognized lines
# are classified as turned by 180°.
UPRIGHT_RATIO = 1.5
# Bump when rendering or recognition changes, so cached results are not reused.
OCR_VERSION = 2
# What the picture types look like inside (uploads are checked by content, not name).
PICTURE_MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "jpeg": (b"\xff\xd8\xff",), "tiff": (b"II*\x00", b"MM\x00*")}
PICTURE_TYPES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}

# (stage, done, total), as index.build reports progress; the stage here is "ocr".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PageText:
    """The text of one page: paragraphs, one per line, and whether OCR made it."""

    text: str
    ocr: bool = False
    dropped: int = 0  # recognized boxes left out for low confidence


@dataclass(frozen=True)
class Recognized:
    """What the recognizer saw on one page image (the cached unit)."""

    boxes: tuple[Box, ...]  # in the upright page's pixels
    angle: int = 0  # how far the page image was turned (counter-clockwise) to stand upright
    width: int = 0
    height: int = 0

    def page_text(self, min_confidence: float = MIN_CONFIDENCE) -> PageText:
        """The page's paragraphs from the boxes at least ``min_confidence`` sure."""
        kept = [b for b in self.boxes if b.score >= min_confidence]
        return PageText("\n".join(paragraphs(kept)), ocr=True, dropped=len(self.boxes) - len(kept))

    def to_json(self) -> str:
        return json.dumps(
            {
                "angle": self.angle,
                "size": [self.width, self.height],
                "boxes": [[round(b.x0), round(b.y0), round(b.x1), round(b.y1), b.text, b.score] for b in self.boxes],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Recognized:
        value = json.loads(text)
        boxes = tuple(Box(x0, y0, x1, y1, t, s) for x0, y0, x1, y1, t, s in value["boxes"])
        return cls(boxes, value["angle"], *value["size"])


BLANK = Recognized(())


def ocr_fingerprint(enabled: bool) -> str:
    """What decides the text of scanned pages, for the index manifest: a change rebuilds."""
    return f"rapidocr-{OCR_VERSION} min-confidence {MIN_CONFIDENCE}" if enabled else "off"


def usable_text(text: str) -> bool:
    """True if a PDF page's text layer is worth keeping (enough letters, few unreadable ones)."""
    letters = sum(1 for ch in text if ch.isalpha())
    junk = sum(1 for ch in text if ch == "\ufffd" or 0xE000 <= ord(ch) <= 0xF8FF)
    return letters >= MIN_TEXT_LETTERS and junk <= MAX_JUNK_SHARE * max(1, letters)


def picture_kind(data: bytes) -> str | None:
    """ "png", "jpeg" or "tiff" when the bytes start like that picture format, else None."""
    for kind, magics in PICTURE_MAGIC.items():
        if any(data.startswith(magic) for magic in magics):
            return kind
    return None


class OcrCache:
    """The SQLite file of recognized pages (see the module docstring); one connection per use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def open(self) -> Iterator[_CacheConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS pages (image_hash TEXT PRIMARY KEY, result TEXT NOT NULL)")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS files (file_hash TEXT, page INTEGER, image_hash TEXT NOT NULL,"
                " PRIMARY KEY (file_hash, page))"
            )
            yield _CacheConnection(connection)
            connection.commit()
        finally:
            connection.close()


class _CacheConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def known_page(self, file_hash: str, page: int) -> Recognized | None:
        row = self.connection.execute(
            "SELECT p.result FROM files f JOIN pages p ON p.image_hash = f.image_hash"
            " WHERE f.file_hash = ? AND f.page = ?",
            (file_hash, page),
        ).fetchone()
        return Recognized.from_json(row[0]) if row else None

    def recognized(self, image_hash: str) -> Recognized | None:
        row = self.connection.execute("SELECT result FROM pages WHERE image_hash = ?", (image_hash,)).fetchone()
        return Recognized.from_json(row[0]) if row else None

    def remember(self, file_hash: str, page: int, image_hash: str, result: Recognized) -> None:
        self.connection.execute(
            "INSERT OR REPLACE INTO pages (image_hash, result) VALUES (?, ?)", (image_hash, result.to_json())
        )
        self.connection.execute(
            "INSERT OR REPLACE INTO files (file_hash, page, image_hash) VALUES (?, ?, ?)",
            (file_hash, page, image_hash),
        )
        # Each page is its own transaction: a build stopped midway keeps what it has read.
        self.connection.commit()


class OcrReader:
    """Reads scanned pages for the loader, with the cache, a page limit and progress.

    Args:
        cache: where recognized pages are kept (None: nowhere, every page is read again).
        enabled: False means OCR is turned off (``ocr = false``): pictures are refused and
            PDF pages without text stay empty.
        max_pages: the most pages of one file that may need OCR (``ocr_max_pages``).
        threads: CPU threads for ONNX Runtime.
        progress: called with ("ocr", pages done, pages to do) for each file that needs OCR.
    """

    def __init__(
        self,
        cache: OcrCache | None,
        enabled: bool = True,
        max_pages: int = 100,
        threads: int = 2,
        progress: Progress | None = None,
    ) -> None:
        self.cache = cache
        self.enabled = enabled
        self.max_pages = max_pages
        self.threads = threads
        self.progress = progress or (lambda *_: None)
        self._engine: Recognizer | None = None

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress | None = None) -> OcrReader:
        """The reader ``settings`` describe (``ocr``, ``ocr_max_pages``, ``cache_dir``, ``threads``)."""
        return cls(
            OcrCache(settings.cache_dir / "ocr.sqlite"),
            enabled=settings.ocr,
            max_pages=settings.ocr_max_pages,
            threads=settings.threads,
            progress=progress,
        )

    @property
    def engine(self) -> Recognizer:
        """The recognizer, loaded on first use (about a second)."""
        if self._engine is None:
            self._engine = Recognizer(self.threads)
        return self._engine

    def check_pages(self, pages: int, name: str) -> None:
        """Refuse a file with more pages to OCR than allowed, or any when OCR is off.

        Raises:
            DocumentError: with the reason and the setting to change.
        """
        if pages and not self.enabled:
            raise DocumentError(
                f"{name}: 有 {pages} 页是扫描图像，需要文字识别（OCR），但 OCR 已关闭（设置 ocr）"
                f"（{pages} pages are scanned images that need OCR, which is turned off: setting ocr）"
            )
        if pages > self.max_pages:
            raise DocumentError(
                f"{name}: 需要文字识别的页数（{pages}）超过上限 {self.max_pages} 页（设置 ocr_max_pages）"
                f"（{pages} pages need OCR, more than the limit of {self.max_pages}: setting ocr_max_pages）"
            )

    def read_pdf_pages(self, data: bytes, name: str, pages: Sequence[int]) -> dict[int, PageText]:
        """OCR these pages (0-based) of a PDF; pages without any picture are left out of the result.

        Raises:
            DocumentError: too many pages, OCR off, or PDFium cannot open the file.
        """
        self.check_pages(len(pages), name)
        return self._read(data, name, pages, _PdfPages)

    def read_picture_pages(self, data: bytes, name: str) -> list[PageText]:
        """OCR every page (frame) of a PNG, JPEG or TIFF picture.

        Raises:
            DocumentError: not a picture, too many pixels or pages, or OCR off.
        """
        frames = check_picture(data, name)
        self.check_pages(frames, name)
        found = self._read(data, name, range(frames), _PicturePages)
        return [found[i] for i in range(frames)]

    def _read(self, data: bytes, name: str, pages: Sequence[int], source: type[_PageSource]) -> dict[int, PageText]:
        file_hash = hashlib.sha256(data).hexdigest() + f"/v{OCR_VERSION}"
        results: dict[int, Recognized] = {}
        with self._cache() as cache:
            todo = []
            for page in pages:
                known = cache.known_page(file_hash, page) if cache else None
                if known is None:
                    todo.append(page)
                else:
                    results[page] = known
            if todo:
                with source.open(data, name) as images:
                    for done, page in enumerate(todo):
                        self.progress("ocr", done, len(todo))
                        image = images.image(page)
                        if image is None:  # nothing but text or vector graphics: nothing to read
                            results[page] = BLANK
                            if cache:
                                cache.remember(file_hash, page, "blank", BLANK)
                            continue
                        image_hash = pixels_hash(image) + f"/v{OCR_VERSION}"
                        result = cache.recognized(image_hash) if cache else None
                        if result is None:
                            result = self.engine.recognize(image)
                        if cache:
                            cache.remember(file_hash, page, image_hash, result)
                        results[page] = result
                        del image
                    self.progress("ocr", len(todo), len(todo))
        # A page without any picture keeps its text layer: only pages with an image are returned.
        texts = {page: results[page].page_text() for page in pages if results[page].width}
        dropped = sum(t.dropped for t in texts.values())
        if dropped:
            log.info(
                "%s: 有 %d 处识别置信度低的文字未收录（%d low-confidence OCR boxes left out）", name, dropped, dropped
            )
        return texts

    @contextmanager
    def _cache(self) -> Iterator[_CacheConnection | None]:
        if self.cache is None:
            yield None
            return
        with self.cache.open() as connection:
            yield connection


def pixels_hash(image: Image) -> str:
    """sha256 of a PIL image's pixels, size and mode."""
    digest = hashlib.sha256(f"{image.mode} {image.size[0]}x{image.size[1]} ".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def check_picture(data: bytes, name: str) -> int:
    """Check a picture's format and size without decoding its pixels; returns its page count.

    Raises:
        DocumentError: not a PNG, JPEG or TIFF, damaged, or more than ``MAX_PIXELS`` pixels a page.
    """
    from PIL import Image, UnidentifiedImageError

    if picture_kind(data) is None:
        raise DocumentError(
            f"{name}: 内容不是 PNG、JPEG 或 TIFF 图片（the content is not a PNG, JPEG or TIFF picture）"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            frames = getattr(image, "n_frames", 1)
            for frame in range(frames):
                image.seek(frame)
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise DocumentError(
                        f"{name}: 图片有 {width}×{height} 像素，超过上限 {MAX_PIXELS // 1_000_000} 百万像素"
                        f"（{width}×{height} pixels is more than the limit of {MAX_PIXELS // 1_000_000} million）"
                    )
            return frames
    except DocumentError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DocumentError(f"{name}: 图片已损坏或无法读取（not a readable picture: {exc}）") from exc


def upright_image(data: bytes, page: int = 0) -> Image:
    """Page ``page`` of a picture as an RGB PIL image, turned as its EXIF says, at most
    ``RENDER_LONG_SIDE`` pixels long."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as picture:
        picture.seek(page)
        image = ImageOps.exif_transpose(picture.convert("RGB"))
    return _at_most(image, RENDER_LONG_SIDE)


def render_pdf_page(page: PdfPage, long_side: int = RENDER_LONG_SIDE) -> Image:
    """A PDFium page rendered to an RGB PIL image ``long_side`` pixels long (at most 300 dpi)."""
    width, height = page.get_size()
    scale = min(long_side / max(width, height, 1), 300 / 72)
    return page.render(scale=scale).to_pil().convert("RGB")


def page_picture(data: bytes, suffix: str, page: int, long_side: int = 1400) -> bytes:
    """Page ``page`` (1-based) of a PDF or picture as a JPEG ``long_side`` pixels long, for viewers.

    Raises:
        DocumentError: the file cannot be read or has no such page.
    """
    try:
        if suffix.lower() == ".pdf":
            import pypdfium2

            pdf = pypdfium2.PdfDocument(data)
            try:
                if not 1 <= page <= len(pdf):
                    raise DocumentError(f"没有第 {page} 页（the file has {len(pdf)} pages）")
                pdf_page = pdf[page - 1]
                try:
                    image = render_pdf_page(pdf_page, long_side)
                finally:
                    pdf_page.close()
            finally:
                pdf.close()
        else:
            image = _at_most(upright_image(data, page - 1), long_side)
    except DocumentError:
        raise
    except Exception as exc:  # a damaged file can make either library raise almost anything
        raise DocumentError(f"无法显示第 {page} 页的图像（cannot render page {page}: {exc}）") from exc
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _at_most(image: Image, long_side: int) -> Image:
    if max(image.size) <= long_side:
        return image
    scale = long_side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), 1)  # LANCZOS


class _PageSource:
    """Page images of one file, opened once for the pages to OCR."""

    @classmethod
    @contextmanager
    def open(cls, data: bytes, name: str) -> Iterator[_PageSource]:
        raise NotImplementedError

    def image(self, page: int) -> Image | None:
        """The page's image (PIL, RGB), or None when it holds no picture."""
        raise NotImplementedError


class _PdfPages(_PageSource):
    def __init__(self, pdf: PdfDocument) -> None:
        self.pdf = pdf

    @classmethod
    @contextmanager
    def open(cls, data: bytes, name: str) -> Iterator[_PdfPages]:
        import pypdfium2

        try:
            pdf = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise DocumentError(f"{name}: PDF 文件已损坏或无法渲染（PDFium cannot open it: {exc}）") from exc
        try:
            yield cls(pdf)
        finally:
            pdf.close()

    def image(self, page: int) -> Image | None:
        import pypdfium2.raw as pdfium_c

        pdf_page = self.pdf[page]
        try:
            if next(pdf_page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)), None) is None:
                return None
            return render_pdf_page(pdf_page)
        finally:
            pdf_page.close()


class _PicturePages(_PageSource):
    def __init__(self, data: bytes) -> None:
        self.data = data

    @classmethod
    @contextmanager
    def open(cls, data: bytes, name: str) -> Iterator[_PicturePages]:
        yield cls(data)

    def image(self, page: int) -> Image:
        return upright_image(self.data, page)


class Recognizer:
    """RapidOCR's PP-OCRv4 models, with the page turned upright before lines are read.

    Args:
        threads: ONNX Runtime threads per model call.
    """

    _lock = threading.Lock()  # one recognition at a time: each already uses every thread given

    def __init__(self, threads: int = 2) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except (ImportError, OSError) as exc:  # OpenCV under it needs libGL and GLib from the system
            raise DocumentError(
                f"文字识别（OCR）无法加载：{exc}；请安装系统库 libgl1 和 libglib2.0-0，或关闭 OCR（设置 ocr）"
                f"（OCR cannot load: {exc}; install libgl1 and libglib2.0-0, or turn OCR off with the setting ocr）"
            ) from exc
        # text_score 0: every box is kept with its confidence; MIN_CONFIDENCE is applied later.
        self.engine = RapidOCR(intra_op_num_threads=max(1, threads), inter_op_num_threads=1, text_score=0.0)
        _without_memory_patterns(self.engine, max(1, threads))

    def recognize(self, image: Image) -> Recognized:
        """Every line of a page image with its box and confidence, read upright.

        The page is read through its red channel, where red ink is as light as the paper: a
        red seal stamped across the text would otherwise hide whole lines from detection
        (bench/ocr.py "seal" pages: CER 0.16 and no page with every figure right, against
        0.002 and all three through the red channel). Red print (a document's red heading)
        is dropped with it; black text, and blue ink, read as before.
        """
        red = np.asarray(image.convert("RGB"))[:, :, 0]
        pixels = np.ascontiguousarray(np.repeat(red[:, :, None], 3, axis=2))
        with self._lock:
            return self._recognize(pixels)

    def _recognize(self, pixels: np.ndarray) -> Recognized:
        engine = self.engine
        quads, _ = engine.text_det(pixels)
        angle = 0
        if quads is not None and len(quads) and _sideways(quads):
            pixels = np.ascontiguousarray(np.rot90(pixels))  # a quarter turn counter-clockwise
            angle = 90
            quads, _ = engine.text_det(pixels)
        height, width = pixels.shape[:2]
        if quads is None or not len(quads):
            return Recognized((), angle, width, height)
        crops = engine.get_crop_img_list(pixels, quads)
        # The angle classifier votes for the page; its verdict on single lines is not used: it
        # calls some upright lines upside down (2 of 30 on a clean seed page, with confidence
        # above its own 0.9 threshold), and a turned line then reads as nothing.
        _, turned, _ = engine.text_cls(list(crops))  # (it turns the crops of the list it is given)
        if sum(1 for label, score in turned if label == "180" and score > 0.5) * 2 > len(turned):
            # Upside down: turn the page, not each line, so that the reading order is right too.
            pixels = np.ascontiguousarray(pixels[::-1, ::-1])
            quads = np.array([(width - 1 - q[:, 0], height - 1 - q[:, 1]) for q in quads]).transpose(0, 2, 1)
            quads = np.ascontiguousarray(quads[:, [2, 3, 0, 1]], dtype=np.float32)
            angle = (angle + 180) % 360
            crops = engine.get_crop_img_list(pixels, quads)
        read, _ = engine.text_rec(crops)
        boxes = tuple(
            Box(
                float(q[:, 0].min()),
                float(q[:, 1].min()),
                float(q[:, 0].max()),
                float(q[:, 1].max()),
                str(text),
                round(float(score), 4),
            )
            for q, (text, score, *_) in zip(quads, read)
            if str(text).strip()
        )
        return Recognized(boxes, angle, width, height)


def _without_memory_patterns(engine: Any, threads: int) -> None:  # engine: a RapidOCR (untyped)
    """Reopen RapidOCR's three ONNX Runtime sessions without memory patterns.

    ONNX Runtime keeps an allocation plan for every input shape it has seen, and every page
    brings new ones (line widths, page sizes): reading a 50-page scan, the process grew from
    480 to 894 MB (bench/ocr.py scale). Without the plans it stays level (14 dense pages:
    417–666 MB, no trend; with them 643 → 754 MB and rising).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False
    options.enable_cpu_mem_arena = False
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    for holder in (engine.text_det.infer, engine.text_cls.infer, engine.text_rec.session):
        model = holder.session._model_path
        holder.session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def _sideways(quads: np.ndarray) -> bool:
    widths = np.linalg.norm(quads[:, 1] - quads[:, 0], axis=1)
    heights = np.linalg.norm(quads[:, 3] - quads[:, 0], axis=1)
    upright = int(np.sum(heights >= UPRIGHT_RATIO * widths))
    flat = int(np.sum(widths >= UPRIGHT_RATIO * heights))
    return upright > flat
