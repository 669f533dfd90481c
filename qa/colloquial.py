"""Everyday words and the official terms policy documents use for the same things.

People ask about 「破房子」, the documents say 危房; 「上不起学回家的孩子」 are 辍学学生,
「吃水」 is 饮水安全, 「看林子的」 are 护林员 on 生态岗位. A question's everyday words add
the official terms to what is searched and matched, never replace what the user wrote. The
table is about the language of Chinese poverty-alleviation policy, not about any document.
"""

from __future__ import annotations

import re

# everyday phrase (a regular expression) → official terms the documents use for it
OFFICIAL_TERMS: dict[str, tuple[str, ...]] = {
    r"穷(?:人|苦|困|的|娃|孩子|学生|地方|家)?": ("贫困",),
    r"穷县|穷帽|穷帽子": ("贫困县", "脱贫摘帽"),
    r"穷村|最穷的村": ("贫困村", "深度贫困村"),
    r"变穷|返穷|又穷": ("返贫", "致贫"),
    r"破房子?|危旧房|烂房子|土坯房|房子漏": ("危房", "危房改造"),
    r"修房子?|盖房子?|翻修房": ("危房改造", "住房"),
    r"老房子?拆|旧房子?拆|拆老房|拆旧房": ("旧房拆除",),
    r"吃水|喝水|吃上水|喝上水|干净水|放心水|水龙头|用上水": ("饮水", "安全饮水", "供水", "自来水"),
    r"上不起学|读不起书|没钱上学|辍学|退学|不上学|回家的孩子": ("辍学", "劝返", "控辍保学"),
    r"念书|上学|读书|回学校": ("就读", "入学", "返校", "教育"),
    r"考上大学|上大学|读大学": ("大学生", "高等教育"),
    r"看病|治病|看不起病|就医": ("医疗", "基本医疗", "看病难"),
    r"因病变穷|看病看穷|病穷": ("因病致贫",),
    r"搬家|搬走|搬出|搬过来|挪窝|挪穷窝|搬下山|搬出大山": ("搬迁", "易地扶贫搬迁", "安置"),
    r"没法过|山沟沟|山旮旯|穷山沟": ("一方水土养不好一方人",),
    r"打工|出去干活|有活干|找活干|有工作|找工作|上班|务工": ("就业", "务工", "转移就业"),
    r"挣钱|赚钱|多挣|收入涨": ("增收", "收入"),
    r"花了多少钱|投了多少钱|多少钱|经费": ("资金", "投入"),
    r"借钱|贷款|借给": ("贷款", "信贷", "发放"),
    r"小额贷款|小贷": ("小额信贷", "扶贫小额信贷"),
    r"看林子|看山|护林|看护山林|管护山林|看草场|护草": ("护林员", "生态岗位", "管护"),
    r"住在村里|驻在村里|下到村里|派到村里|下村|蹲点": ("驻村", "驻村帮扶", "驻村干部"),
    r"老百姓|老乡|乡亲|农民": ("群众", "农牧民"),
    r"孩子|娃|小孩": ("学生", "儿童", "适龄"),
    r"私人老板|民企|私企|老板": ("民营企业",),
    r"修路|通路|路修": ("公路", "道路"),
    r"用上电|通电|拉电": ("电网", "通电", "供电"),
    r"上网|网络|通网": ("光纤", "4G", "宽带"),
    r"告状|投诉|写信|打电话反映": ("信访", "举报"),
    r"把命|牺牲|搭上命|去世": ("献出生命", "牺牲"),
    r"吃低保|低保户": ("低保", "兜底"),
    r"养老": ("养老保险",),
    r"有本事|能干": ("优秀",),
    r"风湿": ("风湿患者",),
    r"快变穷|可能返贫|容易返贫": ("监测", "边缘易致贫户", "脱贫不稳定户"),
}
_PATTERNS = [(re.compile(pattern), terms) for pattern, terms in OFFICIAL_TERMS.items()]


def official_terms(text: str) -> tuple[str, ...]:
    """The official terms for the everyday words of a text that it does not already use."""
    found: list[str] = []
    for pattern, terms in _PATTERNS:
        if pattern.search(text):
            found.extend(term for term in terms if term not in text)
    return tuple(dict.fromkeys(found))


def without_everyday_words(text: str) -> str:
    """The text with its everyday words cut out: they are not words the documents lack, since the
    documents say the same in official terms (「穷人家的孩子」 asks about 贫困家庭学生)."""
    for pattern, _ in _PATTERNS:
        text = pattern.sub("，", text)
    return text
