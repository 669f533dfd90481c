"""Places a question asks about, and whether a sentence speaks of them (pure functions)."""

from __future__ import annotations

from index.types import Document, Sentence
from qa.answer import paragraph_before
from qa.places import names_unknown_place, place_keys, place_names, speaks_of


def test_a_place_no_document_mentions_makes_the_question_unanswerable():
    known = {"西藏", "贫困", "困县"}
    weight = lambda t: 1.0 if t in known else 0.0  # noqa: E731
    assert names_unknown_place(place_names("湖北省2019年有多少个贫困县摘帽？"), weight, "bigram")
    assert not names_unknown_place(place_names("西藏2019年有多少个贫困县摘帽？"), weight, "bigram")
    assert not names_unknown_place(place_names("2019年有多少个贫困县摘帽？"), weight, "bigram")


def _speaks_of(document_text: str, sentence_text: str, place: str, title: str = "文集") -> bool:
    """speaks_of for a sentence of a one-document corpus, with its paragraph as context."""
    start = document_text.index(sentence_text)
    sentence = Sentence(0, "doc.txt", start, start + len(sentence_text), sentence_text)
    document = Document("doc.txt", title, None, None, document_text, "hash")
    return speaks_of(sentence, paragraph_before(document_text, start), [place_keys(place)], document)


def test_a_sentence_speaks_of_the_place_its_article_names():
    article = "那曲市乡村振兴局\n那曲市五年来推进脱贫攻坚。" + "各项工作扎实推进。" * 20 + "\n全市累计减贫31907户。"
    assert _speaks_of(article, "全市累计减贫31907户。", "那曲市")
    assert not _speaks_of(article, "全市累计减贫31907户。", "阿里地区")
    far = "那曲市推进脱贫攻坚。\n" + "各项工作扎实推进。\n" * 200 + "全市累计减贫31907户。"
    assert not _speaks_of(far, "全市累计减贫31907户。", "那曲市")  # more than 1,500 characters back


def test_a_sentence_naming_another_place_does_not_speak_of_the_one_asked():
    article = "阿里地区乡村振兴局\n阿里地区推进脱贫。\n25.32%——这是2015年底西藏的贫困发生率。"
    assert _speaks_of(article, "25.32%——这是2015年底西藏的贫困发生率。", "西藏")
    assert not _speaks_of(article, "25.32%——这是2015年底西藏的贫困发生率。", "阿里地区")
    text = "拉萨市推进脱贫攻坚。\n小康社会全面建成，成就举世瞩目。\n2020年，全国居民人均可支配收入32189元。"
    assert not _speaks_of(text, "2020年，全国居民人均可支配收入32189元。", "拉萨市")


def test_the_title_names_the_place_of_every_sentence():
    assert _speaks_of("开头。\n全区脱贫人口62.8万。", "全区脱贫人口62.8万。", "西藏", title="新西藏")


def test_place_names_include_tibetan_names_jieba_takes_for_people():
    assert set(place_names("北京市对口援藏，给拉萨累计投入了多少？")) == {"北京市", "拉萨"}
    assert place_names("那曲市2015年底的贫困发生率是多少？") == ("那曲市",)
    assert place_names("全国农村贫困发生率是多少？") == ()
    assert place_keys("阿里地区") == ("阿里",) and place_keys("阿里札达") == ("阿里", "札达")
