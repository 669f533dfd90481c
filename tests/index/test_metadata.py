"""Titles and dates set by a person: checked, kept beside the documents, applied by the build."""

from __future__ import annotations

import json
import shutil

import pytest

from index.errors import DocumentError
from index.library import Library
from index.metadata import (
    FILE_NAME,
    apply_overrides,
    check_date,
    check_title,
    overrides_hash,
    read_overrides,
    write_override,
)
from index.settings import Settings
from index.store import load_index, read_manifest
from index.types import Document
from tests.conftest import CACHE

DOC = "002_88d20b9e249d40e3.txt"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2021-02-25", "2021-02-25"),
        ("2021/2/5", "2021-02-05"),
        ("２０２１－０２－２５", "2021-02-25"),
        ("2021年2月25日", "2021-02-25"),
        ("  ", ""),
    ],
)
def test_dates_are_stored_as_iso_dates(given, stored):
    assert check_date(given) == stored


@pytest.mark.parametrize("bad", ["2021-02-30", "2021-13-01", "去年", "2021-02"])
def test_a_date_that_is_not_one_is_refused_in_chinese(bad):
    with pytest.raises(DocumentError, match="请写成 2021-02-25"):
        check_date(bad)


def test_titles_are_one_line_and_bounded():
    assert check_title("  坚定不移\n推进\x00脱贫攻坚  第二版 ") == "坚定不移推进脱贫攻坚 第二版"
    with pytest.raises(DocumentError, match="标题不能为空"):
        check_title(" \u200b\x07 ")
    with pytest.raises(DocumentError, match="标题太长"):
        check_title("长" * 201)


def test_overrides_round_trip_and_apply(tmp_path):
    assert read_overrides(tmp_path) == {} and overrides_hash({}) == ""
    write_override(tmp_path, "a.txt", "新标题", "2020-01-02")
    write_override(tmp_path, "b.txt", "只改标题", None)
    assert read_overrides(tmp_path) == {
        "a.txt": {"title": "新标题", "date": "2020-01-02"},
        "b.txt": {"title": "只改标题"},
    }
    documents = [
        Document("a.txt", "旧", None, None, "正文", "h1"),
        Document("c.txt", "丙", "2019-01-01", None, "x", "h2"),
    ]
    applied = apply_overrides(documents, read_overrides(tmp_path))
    assert [(d.title, d.date) for d in applied] == [("新标题", "2020-01-02"), ("丙", "2019-01-01")]
    assert applied[0].text == "正文" and applied[0].content_hash == "h1"
    write_override(tmp_path, "a.txt", None, None)
    assert set(read_overrides(tmp_path)) == {"b.txt"}
    (tmp_path / FILE_NAME).write_text("not json", encoding="utf-8")
    assert read_overrides(tmp_path) == {}  # a damaged file costs the overrides, not the index


@pytest.mark.slow
def test_a_set_title_and_date_reach_the_index_without_touching_the_file(built_index, embedder, corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(built_index.index_dir, index_dir, ignore=shutil.ignore_patterns(".lock"))
    library = Library(Settings(corpus_dir=corpus_copy, index_dir=index_dir, cache_dir=CACHE), embedder=embedder)
    assert library.rebuild().up_to_date, "an index built before titles could be set is still up to date"
    original = (corpus_copy / DOC).read_bytes()

    stored = library.set_metadata(DOC, "坚定不移推进脱贫攻坚（修订）", "2016年9月1日")
    assert stored == ("坚定不移推进脱贫攻坚（修订）", "2016-09-01")
    report = library.rebuild()
    assert not report.up_to_date and report.embedded == 0, "only the title changed: every vector is cached"
    data = load_index(index_dir)
    assert (data.document(DOC).title, data.document(DOC).date) == ("坚定不移推进脱贫攻坚（修订）", "2016-09-01")
    assert read_manifest(index_dir).metadata == overrides_hash(read_overrides(corpus_copy))
    assert (corpus_copy / DOC).read_bytes() == original
    assert library.rebuild().up_to_date
    assert json.loads((corpus_copy / FILE_NAME).read_text(encoding="utf-8"))[DOC]["date"] == "2016-09-01"

    with pytest.raises(DocumentError, match=r"没有“nope\.txt”"):
        library.set_metadata("nope.txt", "标题", "")
    library.delete(DOC)
    assert DOC not in read_overrides(corpus_copy), "a deleted document's title and date go with it"
