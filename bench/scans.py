"""Scanned pages made on the spot: Chinese text with figures rendered to page images.

The text is drawn with Pillow in the Noto CJK fonts Debian's ``fonts-noto-cjk`` installs
(``.ci/run`` installs it), laid out like a printed notice (A4 at 150 dpi, a centred title,
paragraphs indented two characters), and saved as an image-only PDF or as PNG. Each page
knows the text drawn on it, so recognition can be scored against it. The tests
(tests/index/test_ocr.py, tests/qa/test_scanned.py) and ``bench.ocr`` use these pages.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
SERIF = FONT_DIR / "NotoSerifCJK-Regular.ttc"  # body text (宋体-like)
SANS_BOLD = FONT_DIR / "NotoSansCJK-Bold.ttc"  # titles (黑体-like)
SIMPLIFIED = 2  # the face of the collection with Simplified Chinese glyphs (0 is Japanese)
A4 = (1240, 1754)  # pixels at 150 dpi
MARGIN = 130
BODY_PX = 30  # about 14 pt at 150 dpi
TITLE_PX = 40
LINE_SPACING = 1.65

# Three pages of a county's report, each with its own figures (the questions of the tests
# ask about them, so each answer must cite its own page).
REPORT_TITLE = "青松县2023年巩固拓展脱贫攻坚成果工作报告"
REPORT_PAGES = (
    (
        "2023年，青松县全年投入财政衔接推进乡村振兴补助资金1.86亿元，其中用于产业发展的资金占比达到62.5%，"
        "共实施产业项目127个，带动4352户脱贫户稳定增收。",
        "全县脱贫人口人均纯收入达到15680元，同比增长12.3%，高于全县农村居民人均可支配收入增幅2.1个百分点。",
        "县委、县政府坚持把巩固拓展脱贫攻坚成果作为头等大事，成立由县委书记任组长的领导小组，"
        "建立县级领导联系乡镇、部门包村的工作机制。",
    ),
    (
        "防止返贫动态监测方面，全县共识别监测对象1268户3975人，已消除风险986户3102人，风险消除率达到77.8%。",
        "青松县在全县18个乡镇设立就业服务站，全年组织脱贫劳动力外出务工2.76万人，"
        "实现务工收入8.9亿元；开发乡村公益性岗位1540个。",
        "教育帮扶方面，落实各类学生资助资金3260万元，惠及学生2.1万人次，义务教育阶段无一人因贫失学辍学。",
    ),
    (
        "易地扶贫搬迁后续扶持方面，全县7个集中安置点共安置搬迁群众2315户9860人，"
        "配套建设扶贫车间23个，吸纳搬迁劳动力就业1124人。",
        "健康帮扶方面，脱贫人口基本医疗保险参保率稳定在100%，家庭医生签约服务覆盖脱贫户5.3万人，"
        "住院费用实际报销比例达到88.6%。",
        "下一步，青松县将持续巩固拓展脱贫攻坚成果，守住不发生规模性返贫的底线。",
    ),
)
# A page in two columns under a full-width title.
TWO_COLUMN_TITLE = "白河镇驻村帮扶工作简报"
TWO_COLUMN_PARAGRAPHS = (
    "白河镇共选派驻村第一书记36名、驻村工作队员108名，实现脱贫村和易地搬迁安置社区全覆盖。",
    "全年驻村干部走访农户5420户次，帮助解决群众急难愁盼问题317件，协调落实帮扶资金1450万元。",
    "白河镇新建蔬菜大棚260座，发展食用菌种植85万袋，村集体经济收入全部超过10万元。",
    "全镇脱贫户户均增收4280元，较上年增长9.6%，群众满意度达到98.2%。",
)


@dataclass(frozen=True)
class ScannedPage:
    """A page image and the text drawn on it (paragraphs, one per line)."""

    image: object  # PIL.Image.Image, RGB
    text: str


def font(path: Path, size: int):
    """A Simplified-Chinese face of a Noto CJK collection.

    Raises:
        FileNotFoundError: fonts-noto-cjk is not installed (``apt-get install fonts-noto-cjk``).
    """
    from PIL import ImageFont

    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install Debian's fonts-noto-cjk (.ci/run does)")
    return ImageFont.truetype(str(path), size, index=SIMPLIFIED)


# Marks a line may not start with: they hang at the end of the line before (禁则, as typeset).
NO_LINE_START = "。，、；：？！）》”’%"


def _wrap(draw, text: str, face, width: float, indent: int) -> list[tuple[int, str]]:
    """(x offset, line) pairs filling ``width`` pixels, the first line indented by ``indent``."""
    lines: list[tuple[int, str]] = []
    line, offset = "", indent
    for ch in text:
        if line and ch not in NO_LINE_START and draw.textlength(line + ch, font=face) > width - offset:
            lines.append((offset, line))
            line, offset = "", 0
        line += ch
    if line:
        lines.append((offset, line))
    return lines


def render_page(paragraphs: tuple[str, ...], title: str | None = None, columns: int = 1) -> ScannedPage:
    """A white A4 page with a centred title and indented paragraphs, in one or two columns."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(image)
    body, heading = font(SERIF, BODY_PX), font(SANS_BOLD, TITLE_PX)
    y = MARGIN
    if title:
        width = draw.textlength(title, font=heading)
        draw.text(((A4[0] - width) / 2, y), title, font=heading, fill="black")
        y += int(TITLE_PX * 2.2)
    gutter = 2 * BODY_PX
    column_width = (A4[0] - 2 * MARGIN - (columns - 1) * gutter) // columns
    step = int(BODY_PX * LINE_SPACING)
    placed: list[tuple[int, str]] = [
        pair for p in paragraphs for pair in _wrap(draw, p, body, column_width, indent=2 * BODY_PX)
    ]
    per_column = -(-len(placed) // columns)
    for n, (offset, line) in enumerate(placed):
        column, row = divmod(n, per_column)
        x = MARGIN + column * (column_width + gutter) + offset
        draw.text((x, y + row * step), line, font=body, fill="black")
    if y + per_column * step > A4[1] - MARGIN:
        raise ValueError("the paragraphs do not fit on one page")
    return ScannedPage(image, "\n".join(([title] if title else []) + list(paragraphs)))


def typeset(paragraphs: list[str], title: str | None = None, pages: int | None = None) -> list[ScannedPage]:
    """Paragraphs set page after page (a paragraph runs on to the next page), at most ``pages``.

    Each page's ``text`` holds what was drawn on it (a paragraph cut by the page end is cut there).
    """
    from PIL import Image, ImageDraw

    body, heading = font(SERIF, BODY_PX), font(SANS_BOLD, TITLE_PX)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = A4[0] - 2 * MARGIN
    step = int(BODY_PX * LINE_SPACING)
    # (x offset, line, paragraph number) for every line of the document
    lines = [
        (offset, line, n)
        for n, p in enumerate(paragraphs)
        for offset, line in _wrap(measure, p, body, width, indent=2 * BODY_PX)
    ]
    out: list[ScannedPage] = []
    at = 0
    while at < len(lines) and (pages is None or len(out) < pages):
        image = Image.new("RGB", A4, "white")
        draw = ImageDraw.Draw(image)
        y = MARGIN
        drawn: list[str] = []
        if title and not out:
            draw.text(((A4[0] - draw.textlength(title, font=heading)) / 2, y), title, font=heading, fill="black")
            y += int(TITLE_PX * 2.2)
            drawn.append(title)
        previous = None
        while at < len(lines) and y + BODY_PX <= A4[1] - MARGIN:
            offset, line, n = lines[at]
            draw.text((MARGIN + offset, y), line, font=body, fill="black")
            if n == previous:
                drawn[-1] += line
            else:
                drawn.append(line)
            previous, y, at = n, y + step, at + 1
        out.append(ScannedPage(image, "\n".join(drawn)))
    return out


def degraded(page: ScannedPage, kind: str, seed: int = 0) -> ScannedPage:
    """The page as a poor scan: "blur", "noise", "jpeg" (quality 25), "low-res" (100 dpi and
    back), "faint" (grey text on a grey sheet), "seal" (a red round stamp over the text) or
    "copied-seal" (the same stamp on a black-and-white photocopy: grey, like the text) or
    "scribbles" (handwritten marks in blue ink: a signature and notes in the margins)."""
    import numpy as np
    from PIL import Image, ImageChops, ImageDraw, ImageFilter

    image = page.image
    if kind == "blur":
        image = image.filter(ImageFilter.GaussianBlur(1.4))
    elif kind == "noise":
        rng = np.random.default_rng(seed)
        pixels = np.asarray(image).astype(np.int16) + rng.normal(0, 40, size=(A4[1], A4[0], 1)).astype(np.int16)
        specks = rng.random((A4[1], A4[0])) < 0.004
        pixels[specks] = 0
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    elif kind == "jpeg":
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=25)
        image = Image.open(io.BytesIO(out.getvalue())).convert("RGB")
    elif kind == "low-res":
        image = image.resize((A4[0] * 2 // 3, A4[1] * 2 // 3), Image.BILINEAR).resize(A4, Image.BILINEAR)
    elif kind == "faint":
        pixels = np.asarray(image).astype(np.float32)
        image = Image.fromarray((150 + pixels * (80 / 255)).astype(np.uint8))
    elif kind in ("seal", "copied-seal"):
        # Red ink over the text: ink multiplies with the paper, so black text stays black under it.
        stamp = Image.new("RGBA", A4, (255, 255, 255, 0))
        draw = ImageDraw.Draw(stamp)
        cx, cy, r = A4[0] - MARGIN - 170, MARGIN + 230, 150
        red = (225, 35, 35, 255) if kind == "seal" else (120, 120, 120, 255)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=red, width=9)
        draw.text((cx - 45, cy - 60), "★", font=font(SANS_BOLD, 90), fill=red)
        ring = font(SANS_BOLD, 34)
        for i, ch in enumerate("青松县人民政府办公室"):
            angle = math.radians(200 + i * 14)
            glyph = Image.new("RGBA", (48, 48), (255, 255, 255, 0))
            ImageDraw.Draw(glyph).text((6, 2), ch, font=ring, fill=red)
            glyph = glyph.rotate(-math.degrees(angle) - 90, expand=True)
            x, y = cx + (r - 42) * math.cos(angle), cy + (r - 42) * math.sin(angle)
            stamp.alpha_composite(glyph, (int(x - glyph.width / 2), int(y - glyph.height / 2)))
        ink = Image.alpha_composite(Image.new("RGBA", A4, "white"), stamp).convert("RGB")
        image = ImageChops.multiply(image, ink)
    elif kind == "scribbles":
        image = image.copy()
        draw = ImageDraw.Draw(image)
        rng = np.random.default_rng(seed)
        ink = (25, 35, 140)
        # A signature under the text, notes in the left and right margins and between lines.
        for x0, y0, width, height in (
            (700, 1450, 360, 90),
            (20, 600, 95, 300),
            (1130, 300, 95, 420),
            (300, 1200, 520, 60),
        ):
            for _ in range(max(3, width // 45)):
                x, y = x0 + rng.uniform(0, width), y0 + rng.uniform(0, height)
                points = [(x, y)]
                for _ in range(12):
                    x = min(x0 + width, max(x0, x + rng.normal(8, 10)))
                    y = min(y0 + height, max(y0, y + rng.normal(0, 12)))
                    points.append((x, y))
                draw.line(points, fill=ink, width=3, joint="curve")
    else:
        raise ValueError(f"unknown degradation {kind!r}")
    return ScannedPage(image, page.text)


DEGRADATIONS = ("blur", "noise", "jpeg", "low-res", "faint", "seal", "copied-seal", "scribbles")


def report_pages() -> list[ScannedPage]:
    """The three pages of the county report (the title on the first)."""
    return [render_page(p, REPORT_TITLE if i == 0 else None) for i, p in enumerate(REPORT_PAGES)]


def two_column_page() -> ScannedPage:
    """The two-column briefing page."""
    return render_page(TWO_COLUMN_PARAGRAPHS, TWO_COLUMN_TITLE, columns=2)


def rotated(page: ScannedPage, degrees: int = 90) -> ScannedPage:
    """The page turned counter-clockwise, as a sheet fed sideways into a scanner."""
    return ScannedPage(page.image.rotate(degrees, expand=True), page.text)


def image_pdf(pages: list[ScannedPage]) -> bytes:
    """An image-only PDF (no text layer), one page per image, at 150 dpi."""
    out = io.BytesIO()
    first, *rest = [p.image for p in pages]
    first.save(out, format="PDF", save_all=True, append_images=rest, resolution=150)
    return out.getvalue()


def png(page: ScannedPage) -> bytes:
    """The page as a PNG file."""
    out = io.BytesIO()
    page.image.save(out, format="PNG")
    return out.getvalue()


def comparable(text: str) -> str:
    """Text as recognition is scored: NFKC (full- and half-width punctuation alike), no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def character_error_rate(expected: str, found: str) -> float:
    """Edit distance between the two texts (``comparable``), per character expected."""
    a, b = comparable(expected), comparable(found)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(1, len(a))


FIGURE = re.compile(r"\d+(?:\.\d+)?%?")


def figures(text: str) -> list[str]:
    """The numbers of a text in order (「1.86」「62.5%」「4352」), as recognition must keep them."""
    return FIGURE.findall(comparable(text))
