"""Reading order and paragraphs of OCR'd boxes (index.layout), on hand-made pages."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.layout import Box, paragraphs, reading_order

H = 30  # line height in pixels; a Chinese character is about as wide
GAP = 18  # ordinary spacing between lines


def line(x0: float, row: int, chars: int, text: str | None = None, top: float = 0) -> Box:
    """A box of ``chars`` characters at line ``row`` (text defaults to a label)."""
    y0 = top + row * (H + GAP)
    return Box(x0, y0, x0 + chars * H, y0 + H, text if text is not None else f"<{row}@{x0:.0f}>")


def test_single_column_paragraphs_by_indent_and_short_last_line():
    boxes = [
        line(100, 0, 30, "第一段第一行"),
        line(40, 1, 32, "第一段第二行"),
        line(40, 2, 10, "第一段完。"),
        line(100, 3, 30, "第二段第一行"),
        line(40, 4, 32, "第二段第二行。"),
    ]
    assert paragraphs(list(reversed(boxes))) == ["第一段第一行第一段第二行第一段完。", "第二段第一行第二段第二行。"]


def test_centred_title_is_its_own_paragraph_and_unindented_lines_run_on():
    boxes = [line(400, 0, 8, "关于做好工作的通知"), line(40, 1, 32, "各县："), line(40, 2, 32, "现将有关事项")]
    # "各县：" reaches the right edge here (a full line), so the next line continues it.
    assert paragraphs(boxes) == ["关于做好工作的通知", "各县：现将有关事项"]


def test_two_columns_are_read_column_by_column_under_a_full_width_title():
    left = [line(40, r, 14, f"左{r}", top=60) for r in range(6)]
    right = [line(40 + 16 * H, r, 14, f"右{r}", top=60) for r in range(4)]  # the right column is shorter
    title = Box(40, 0, 40 + 30 * H, H, "标题横跨两栏")
    rows = reading_order([*right, title, *left])
    assert [r.text(H) for r in rows] == ["标题横跨两栏", *(f"左{r}" for r in range(6)), *(f"右{r}" for r in range(4))]


def test_two_columns_with_offset_baselines():
    left = [line(40, r, 14, f"左{r}") for r in range(5)]
    right = [line(40 + 16 * H, r, 14, f"右{r}", top=H / 2) for r in range(5)]  # half a line lower
    assert [r.text(H) for r in reading_order(left + right)] == [f"左{r}" for r in range(5)] + [
        f"右{r}" for r in range(5)
    ]


def test_a_paragraph_continues_from_the_bottom_of_one_column_to_the_top_of_the_next():
    left = [line(40 + H * 2, 0, 12, "段落开始")] + [line(40, r, 14, f"左{r}") for r in range(1, 4)]
    right = [line(40 + 16 * H, r, 14, f"右{r}") for r in range(4)]
    assert paragraphs(left + right) == ["段落开始左1左2左3右0右1右2右3"]


def test_a_row_of_separate_boxes_is_one_line_with_spaces_where_they_stand_apart():
    boxes = [Box(40, 0, 200, H, "姓名："), Box(205, 0, 300, H, "张三"), Box(600, 0, 800, H, "职务：县长")]
    assert [r.text(H) for r in reading_order(boxes)] == ["姓名：张三 职务：县长"]


def test_tightly_set_lines_with_overlapping_boxes_stay_apart():
    # Detection boxes padded into each other: each overlaps the next by a fifth of its height.
    boxes = [Box(40, r * 0.8 * H, 40 + 30 * H, r * 0.8 * H + H, f"行{r}") for r in range(6)]
    assert [r.text(H) for r in reading_order(boxes[::-1])] == [f"行{r}" for r in range(6)]


def test_latin_words_broken_across_lines_keep_a_space_chinese_and_numbers_do_not():
    boxes = [line(40, 0, 32, "Poverty"), line(40, 1, 32, "alleviation 脱贫"), line(40, 2, 32, "攻坚带动43")]
    boxes.append(line(40, 3, 32, "52户"))
    assert paragraphs(boxes) == ["Poverty alleviation 脱贫攻坚带动4352户"]


def test_a_blank_between_rows_starts_a_paragraph():
    boxes = [line(40, 0, 32, "上一段"), line(40, 3, 32, "下一段")]
    assert paragraphs(boxes) == ["上一段", "下一段"]


def test_empty_and_blank_boxes_give_no_paragraphs():
    assert paragraphs([]) == []
    assert paragraphs([Box(0, 0, 10, 10, "  ")]) == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1500), st.integers(0, 2000), st.integers(1, 40), st.integers(10, 60)),
        min_size=1,
        max_size=40,
    )
)
def test_every_box_is_read_exactly_once(specs):
    boxes = [Box(x, y, x + w * h, y + h, f"[{i}]") for i, (x, y, w, h) in enumerate(specs)]
    rows = reading_order(boxes)
    read = sorted(box.text for row in rows for box in row.boxes)
    assert read == sorted(b.text for b in boxes)
