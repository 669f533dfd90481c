"""The extractive answerer on hand-made evidence and a hand-made model: what it quotes, when it
declines, what it says when the documents state another scope."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from index.errors import ConfigError
from index.types import Sentence
from qa.decision import DECISION_NAMES, decision_features
from qa.evidence import Evidence, EvidenceSentence
from qa.extractive import ExtractiveAnswerer
from qa.features import INDEX, NAMES, part_features
from qa.model import AnswerModel, Regression, load_model, model_from_json
from qa.query import analyze
from qa.types import Hit

REFUSAL = "根据现有文档，无法回答这个问题。"
DIM = 8


def _model(threshold: float = 0.5) -> AnswerModel:
    """Answers by similarity alone: P = sigmoid(20 · (similarity − 0.9))."""
    coef = np.zeros(len(NAMES))
    coef[INDEX["similarity"]] = 20.0
    regression = Regression(np.zeros(len(NAMES)), np.ones(len(NAMES)), coef, -18.0)
    return AnswerModel(NAMES, regression, regression, threshold, threshold)


def _vector(similarity: float) -> np.ndarray:
    """A unit vector with the given cosine to the query vector e0."""
    v = np.zeros(DIM, dtype=np.float32)
    v[0], v[1] = similarity, np.sqrt(max(0.0, 1 - similarity**2))
    return v


def _evidence(sentences: list[tuple[str, float]], document: str = "doc.txt", article: str = "") -> Evidence:
    """Evidence of one document whose sentences follow each other; each with its similarity to the query."""
    items, start = [], 0
    text = "".join(s for s, _ in sentences)
    hit = Hit(0, document, "文集", "2021-01-01", text, 0, len(text), 1.0, 0.9, 1.0)
    for number, (sentence_text, similarity) in enumerate(sentences):
        sentence = Sentence(number, document, start, start + len(sentence_text), sentence_text)
        items.append(EvidenceSentence(sentence, hit, 0, "文集", "2021-01-01", "", article, _vector(similarity)))
        start += len(sentence_text)
    following = lambda s: [i.sentence for i in items if i.sentence.sentence_id > s.sentence_id]  # noqa: E731
    return Evidence(
        sentences=tuple(items),
        hits=(hit,),
        term_weight=lambda term: 1.0,
        tokenizer="bigram",
        following=following,
        passage_of=lambda s: hit,
        sentences_of=lambda h: [i.sentence for i in items],
    )


def _answer(question: str, evidence: Evidence, model: AnswerModel | None = None, history=()):
    info, _ = analyze(question, list(history))
    query = np.zeros(DIM, dtype=np.float32)
    query[0] = 1.0
    return ExtractiveAnswerer(model or _model(), REFUSAL).answer(info, evidence, [query] * len(info.parts))


def test_the_likeliest_sentence_is_quoted_and_cited():
    evidence = _evidence([("扶贫日定在每年10月17日。", 0.97), ("脱贫攻坚取得胜利。", 0.90)])
    draft = _answer("扶贫日是哪一天？", evidence)
    assert draft.answered and draft.text == "扶贫日定在每年10月17日。[1]"
    (citation,) = draft.citations
    assert (citation.start, citation.end) == (0, len("扶贫日定在每年10月17日。")) and citation.title == "文集"
    assert draft.confidence == pytest.approx(1 / (1 + np.exp(-(20 * 0.97 - 18))), abs=1e-3)


def test_below_the_threshold_the_question_is_declined():
    evidence = _evidence([("扶贫日定在每年10月17日。", 0.91)])
    draft = _answer("扶贫日是哪一天？", evidence, _model(threshold=0.9))
    assert not draft.answered and draft.text == REFUSAL and draft.citations == ()


def _decision(model: AnswerModel, intercept: float, **weights: float) -> AnswerModel:
    """The model with a decision regression on raw (unscaled) decision features."""
    coef = np.zeros(len(DECISION_NAMES))
    for name, weight in weights.items():
        coef[DECISION_NAMES.index(name)] = weight
    ones, zeros = np.ones(len(DECISION_NAMES)), np.zeros(len(DECISION_NAMES))
    return replace(model, decision=Regression(zeros, ones, coef, intercept), decision_threshold=0.5)


def test_the_fitted_decision_answers_or_declines_the_whole_question():
    evidence = _evidence([("扶贫日定在每年10月17日。", 0.91)])  # P ≈ 0.55, under the part threshold 0.9
    weak = _model(threshold=0.9)
    assert not _answer("扶贫日是哪一天？", evidence, weak).answered
    # a decision that trusts a sentence far ahead of the rest answers it, and reports its own confidence
    trusting = _answer("扶贫日是哪一天？", evidence, _decision(weak, -1.0, margin=10.0))
    assert trusting.answered and "10月17日" in trusting.text
    assert trusting.confidence == pytest.approx(1 / (1 + np.exp(-(10 * 0.5498 - 1))), abs=1e-3)
    # and one that expects little of any question declines even the closest sentence
    strong = _evidence([("扶贫日定在每年10月17日。", 0.99)])
    doubting = _answer("扶贫日是哪一天？", strong, _decision(_model(), -5.0))
    assert not doubting.answered and doubting.text == REFUSAL


def test_a_heading_never_answers_even_when_it_is_the_closest():
    evidence = _evidence([("全面打赢脱贫攻坚战", 0.99), ("靠的是党的坚强领导和人民的团结奋斗。", 0.95)])
    draft = _answer("脱贫攻坚靠的是啥？", evidence)
    assert "全面打赢脱贫攻坚战" not in draft.text and "党的坚强领导" in draft.text


def test_a_figure_of_another_scope_is_declined_with_what_the_documents_do_say():
    evidence = _evidence([("日喀则市2020年脱贫人口人均可支配收入达到11960.1元。", 0.97)])
    draft = _answer("那那曲呢？", evidence, history=["日喀则2020年脱贫人口人均可支配收入是多少？"])
    assert not draft.answered
    assert draft.text.startswith("文档中没有所问范围的这一数字，只有日喀则") and draft.text.endswith("[1]")
    assert "11960.1元" in draft.text and len(draft.citations) == 1
    year = _answer("拉萨2022年计划实施多少个涉农项目？", _evidence([("2021年拉萨市计划实施涉农项目206个。", 0.97)]))
    assert not year.answered and "2021年" in year.text


def test_each_part_of_a_question_is_answered_from_its_own_sentence():
    evidence = _evidence([("昌都累计脱贫19.46万人。", 0.96), ("那曲累计减贫137033人。", 0.93), ("无关的话。", 0.80)])
    draft = _answer("昌都和那曲各脱贫了多少人？", evidence)
    assert draft.answered and "19.46万人" in draft.text and "137033人" in draft.text
    assert [c.marker for c in draft.citations] == [1, 2]


def test_two_parts_quote_two_sentences_when_the_second_is_nearly_as_likely():
    # Both parts rank the first fact's sentence first (the model reads similarity alone).
    evidence = _evidence(
        [("共识别贫困人口8962万人。", 0.97), ("9899万农村贫困人口全部脱贫。", 0.96), ("无关的话。", 0.80)]
    )
    draft = _answer("识别出多少贫困人口？最后全部脱贫的又是多少人？", evidence)
    assert draft.answered and "8962万人" in draft.text and "9899万" in draft.text
    # ... but a figure part does not move to a sentence without a figure of the kind asked
    unrelated = _evidence([("共识别贫困人口8962万人。", 0.97), ("贫困户获贷率提高到29%。", 0.96), ("无关的话。", 0.80)])
    once = _answer("识别出多少贫困人口？最后全部脱贫的又是多少人？", unrelated)
    assert "29%" not in once.text
    # ... but one sentence stating both figures answers both parts, quoted once.
    shared = _evidence([("因病、因残致贫比例分别超过40%和14%。", 0.97), ("无关的话。", 0.85)])
    both = _answer("因病致贫的比例是多少？因残致贫的呢？", shared)
    assert both.answered and both.text == "因病、因残致贫比例分别超过40%和14%。[1]"


def test_a_statement_that_ends_in_a_semicolon_is_quoted_to_its_end():
    evidence = _evidence(
        [
            ("目标是“两个确保”:确保农村贫困人口全部脱贫;", 0.97),
            ("确保贫困县全部摘帽。", 0.80),
            ("别的事。", 0.80),
        ]
    )
    draft = _answer("“两个确保”是什么意思？", evidence)
    assert draft.answered and "贫困县全部摘帽" in draft.text and "别的事" not in draft.text
    assert [c.marker for c in draft.citations] == [1, 2]


def test_what_a_numbered_slogan_means_is_the_sentence_listing_its_items():
    evidence = _evidence(
        [
            ("总的看,“两不愁”基本解决了,“三保障”还存在不少薄弱环节。", 0.97),
            ("到2020年稳定实现农村贫困人口不愁吃、不愁穿，义务教育、基本医疗、住房安全有保障。", 0.86),
            ("教育部、水利部、国家医保局是“三保障”工作的主管部门。", 0.85),
        ]
    )
    draft = _answer("“两不愁三保障”是什么意思？", evidence)
    assert draft.answered and "不愁吃、不愁穿" in draft.text
    # a question about something else of the slogan's (its departments) is not answered by its items
    departments = _answer("“三保障”工作由哪些部门主管？", evidence)
    assert "不愁吃" not in departments.text


def test_a_statement_two_documents_word_alike_is_quoted_once():
    evidence = _evidence(
        [
            ("脱贫攻坚精神，是中国共产党性质宗旨、中国人民意志品质的生动写照，是中国精神的充分彰显。", 0.97),
            ("脱贫攻坚精神是中国共产党性质宗旨、中国人民意志品质的生动写照，是中国精神的彰显。", 0.965),
            ("无关的话。", 0.80),
        ]
    )
    draft = _answer("脱贫攻坚精神是什么？", evidence)
    assert draft.answered and len(draft.citations) == 1


def test_a_list_question_quotes_the_numbered_items_that_follow():
    evidence = _evidence(
        [
            ("主要有三条经验。", 0.97),
            ("一是坚持党的领导。", 0.85),
            ("二是坚持精准方略。", 0.85),
            ("三是坚持群众主体。", 0.85),
        ]
    )
    draft = _answer("主要有哪三条经验？", evidence)
    for item in ("坚持党的领导", "坚持精准方略", "坚持群众主体"):
        assert item in draft.text
    assert len(draft.citations) == 4


def test_the_answer_stays_short():
    long_sentences = [(f"第{n}句话说的是政策的内容和要求，" + "措施很多" * 30 + "。", 0.96) for n in range(5)]
    draft = _answer("政策有什么要求？", _evidence(long_sentences))
    assert draft.answered and len(draft.text.replace("[1]", "")) <= 300


def test_the_stored_model_matches_the_features_and_a_stale_one_is_refused():
    model = load_model()
    assert model.names == NAMES and 0 < model.figure_threshold < 1 and 0 < model.other_threshold < 1
    assert model.decision is not None and 0 < model.decision_threshold < 1
    stale = model.to_json()
    stale["features"] = [*stale["features"][:-1], "something_else"]
    with pytest.raises(ConfigError, match=r"bench\.train_answerer"):
        model_from_json(stale)
    reread = model_from_json(model.to_json())
    assert (reread.figure_threshold, reread.other_threshold) == (model.figure_threshold, model.other_threshold)
    assert reread.decision_threshold == model.decision_threshold
    assert reread.decision is not None and np.allclose(reread.decision.coef, model.decision.coef)


def test_a_place_answers_a_where_question_and_is_another_scope_otherwise():
    evidence = _evidence([("2018年2月12日，习近平总书记在四川省成都市主持召开打好精准脱贫攻坚战座谈会。", 0.95)])
    local = {}
    for question in ("打好精准脱贫攻坚战座谈会是在哪儿开的？", "打好精准脱贫攻坚战座谈会是哪天开的？"):
        part = analyze(question, [])[0].parts[0]
        features, _ = part_features(part, evidence, evidence.similarities(_vector(1.0)))
        local[question] = features[0, INDEX["sentence_local"]] + features[0, INDEX["nation_vs_local"]]
    assert local == {"打好精准脱贫攻坚战座谈会是在哪儿开的？": 0.0, "打好精准脱贫攻坚战座谈会是哪天开的？": 2.0}


def _query() -> np.ndarray:
    query = np.zeros(DIM, dtype=np.float32)
    query[0] = 1.0
    return query


def _part(question: str):
    return analyze(question)[0].parts[0]


def _features(question: str, evidence: Evidence) -> np.ndarray:
    info, _ = analyze(question)
    query = np.zeros(DIM, dtype=np.float32)
    query[0] = 1.0
    features, _ = part_features(info.parts[0], evidence, evidence.similarities(query))
    return features


def test_who_and_where_questions_look_for_offices_and_places():
    offices = _evidence([("县委书记和县长是第一责任人。", 0.9), ("责任重大。", 0.9)])
    who = _features("县级脱贫攻坚的第一责任人是谁？", offices)
    assert who[:, INDEX["who_asked"]].all() and list(who[:, INDEX["names_role"]]) == [1.0, 0.0]
    where = _features("中央扶贫开发工作会议在哪里开的？", _evidence([("会议在北京召开。", 0.9), ("会议很重要。", 0.9)]))
    assert list(where[:, INDEX["where_names_place"]]) == [1.0, 0.0] and not where[:, INDEX["who_asked"]].any()


def test_a_question_whose_every_sentence_has_the_wrong_scope_is_never_answered_from_them():
    evidence = _evidence([(f"日喀则市第{n}批安置了{n}00户。", 0.97) for n in range(1, 9)])
    # a decision that would answer nearly anything
    lenient = _decision(_model(), 3.0, close_candidates=1.0)
    draft = _answer("那曲安置了多少户？", evidence, lenient)
    # declined, saying what the documents state for 日喀则, not answered with it
    assert not draft.answered and draft.text.startswith("文档中没有所问范围的这一数字，只有日喀则")
    ranked = ExtractiveAnswerer(lenient, REFUSAL)._rank(_part("那曲安置了多少户？"), evidence, _query())
    assert decision_features([ranked])[DECISION_NAMES.index("close_candidates")] == 0.0


def test_a_figure_the_question_states_is_not_its_answer():
    evidence = _evidence([("20多万名辍学学生返校。", 0.95), ("其中初中生15万人，高中生5万人。", 0.9)])
    given = _features("返校的那20多万名辍学学生里，初中生有多少？", evidence)
    assert list(given[:, INDEX["figure_given"]]) == [1.0, 0.0]
    # 「4万多」 as the question writes it stands for the 44 435 of the text.
    about = _features("拉萨那4万多脱贫人口里，女性有多少？", _evidence([("拉萨44435名建档立卡人口全部脱贫。", 0.95)]))
    assert about[0, INDEX["figure_given"]] == 1.0
    # A figure the question does not state is an answer, even beside one it does.
    falling = _features("贫困发生率从10.2%降到了多少？", _evidence([("贫困发生率由10.2%下降至4.5%。", 0.95)]))
    assert falling[0, INDEX["figure_given"]] == 0.0


def test_a_heading_is_never_offered_as_what_the_documents_state():
    evidence = _evidence([("●解决“两不愁三保障”突出问题座谈会", 0.99)])
    draft = _answer("两不愁三保障具体包括哪几样？", evidence, _decision(_model(), 3.0, close_candidates=1.0))
    assert not draft.answered and draft.text == REFUSAL and draft.citations == ()
