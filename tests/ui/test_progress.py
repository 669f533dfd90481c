"""The build's progress label: stage names and the time left, in Chinese."""

from __future__ import annotations

import pytest

from ui import handlers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "约还需 1 秒"),
        (42.4, "约还需 42 秒"),
        (65, "约还需 1 分 05 秒"),
        (3 * 3600 + 7 * 60, "约还需 3 小时 07 分"),
    ],
)
def test_time_left_reads_naturally(seconds, text):
    assert handlers.time_left(seconds) == text


def test_the_time_left_comes_from_the_rate_so_far():
    # 100 of 400 texts in 20 s: 300 more at 5 texts/s.
    assert handlers.progress_text("embed", 100, 400, 20.0) == "计算向量，约还需 1 分 00 秒"


@pytest.mark.parametrize(("done", "total", "elapsed"), [(0, 400, 3.0), (400, 400, 80.0), (5, 400, 0.0)])
def test_no_estimate_before_the_first_texts_or_after_the_last(done, total, elapsed):
    assert handlers.progress_text("embed", done, total, elapsed) == "计算向量"


def test_every_stage_of_a_build_has_a_chinese_name():
    assert [handlers.progress_text(stage, 0, 1, 0) for stage in ("read", "embed", "write")] == [
        "读取文件",
        "计算向量",
        "写入索引",
    ]
