"""Place names jieba does not know: China's prefecture-level cities and Tibet's counties.

jieba tags few of them as places (遵义, 措勤 and 改则 are not), so a figure stated for 措勤县 was
taken for 改则县's and 毕节's for 遵义's. The lists are the administrative divisions, not words of
any document; names that are also everyday words (安康, 来宾, 白银, 大同…) count as places only
with their suffix (「安康市」).
"""

from __future__ import annotations

PREFECTURE_CITIES = frozenset(
    """
    石家庄 唐山 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水
    太原 大同 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 吕梁
    呼和浩特 包头 乌海 赤峰 通辽 鄂尔多斯 呼伦贝尔 巴彦淖尔 乌兰察布 兴安 锡林郭勒 阿拉善
    沈阳 大连 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 朝阳 葫芦岛
    长春 四平 辽源 通化 白山 松原 白城 延边
    哈尔滨 齐齐哈尔 鸡西 鹤岗 双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化 大兴安岭
    南京 无锡 徐州 常州 苏州 南通 连云港 淮安 盐城 扬州 镇江 泰州 宿迁
    杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水
    合肥 芜湖 蚌埠 淮南 马鞍山 淮北 铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城
    福州 厦门 莆田 三明 泉州 漳州 南平 龙岩 宁德
    南昌 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春 抚州 上饶
    济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽
    郑州 开封 洛阳 平顶山 安阳 鹤壁 新乡 焦作 濮阳 许昌 漯河 三门峡 南阳 商丘 信阳 周口 驻马店 济源
    武汉 黄石 十堰 宜昌 襄阳 鄂州 荆门 孝感 荆州 黄冈 咸宁 随州 恩施 仙桃 潜江 天门 神农架
    长沙 株洲 湘潭 衡阳 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底 湘西
    广州 韶关 深圳 珠海 汕头 佛山 江门 湛江 茂名 肇庆 惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州 揭阳 云浮
    南宁 柳州 桂林 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 来宾 崇左
    海口 三亚 三沙 儋州
    成都 自贡 攀枝花 泸州 德阳 绵阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 巴中 资阳 阿坝 甘孜 凉山
    贵阳 六盘水 遵义 安顺 毕节 铜仁 黔西南 黔东南 黔南
    昆明 曲靖 玉溪 保山 昭通 丽江 普洱 临沧 楚雄 红河 文山 西双版纳 大理 德宏 怒江 迪庆
    西安 铜川 宝鸡 咸阳 渭南 延安 汉中 榆林 安康 商洛
    兰州 嘉峪关 金昌 白银 天水 武威 张掖 平凉 酒泉 庆阳 定西 陇南 临夏 甘南
    西宁 海东 海北 黄南 果洛 玉树 海西
    银川 石嘴山 吴忠 固原 中卫
    乌鲁木齐 克拉玛依 吐鲁番 哈密 昌吉 博尔塔拉 巴音郭楞 阿克苏 克孜勒苏 喀什 和田 伊犁 塔城 阿勒泰 石河子
    """.split()
)
# Tibet's districts and counties, by prefecture (拉萨, 日喀则, 昌都, 林芝, 山南, 那曲, 阿里).
TIBET_COUNTIES = frozenset(
    """
    城关 堆龙德庆 达孜 林周 当雄 尼木 曲水 墨竹工卡
    桑珠孜 南木林 江孜 定日 萨迦 拉孜 昂仁 谢通门 白朗 仁布 康马 定结 仲巴 亚东 吉隆 聂拉木 萨嘎 岗巴
    卡若 江达 贡觉 类乌齐 丁青 察雅 八宿 左贡 芒康 洛隆 边坝
    巴宜 工布江达 米林 墨脱 波密 察隅 朗县
    乃东 扎囊 贡嘎 桑日 琼结 曲松 措美 洛扎 加查 隆子 错那 浪卡子
    色尼 嘉黎 比如 聂荣 安多 申扎 索县 班戈 巴青 尼玛 双湖
    噶尔 普兰 札达 日土 革吉 改则 措勤
    """.split()
)
# Names that are everyday words too (「生活安康」「来宾」「比如」「安多」): places only with a suffix.
ALSO_WORDS = frozenset(
    "朝阳 大同 安康 来宾 白银 长治 中山 北海 黄山 白山 玉树 红河 文山 普洱 泰安 吉安 安顺 丽水 金华 "
    "通化 抚顺 日照 东营 城关 比如 安多 尼玛 达孜 江达 白朗 仁布 吉隆 曲水 隆子 乃东 色尼 大理 "
    "延边 海北 海西 海东 黄南 湘西 甘南 黔南 河源 清远 天门 丹东 松原 和田 保山 昌吉".split()
)
KNOWN_PLACES = PREFECTURE_CITIES | TIBET_COUNTIES


def is_known_place(stem: str) -> bool:
    """True if a place stem (no suffix) is a prefecture-level city or a Tibetan county."""
    return stem in KNOWN_PLACES


def bare_places(text: str, word_starts: frozenset[int]) -> tuple[str, ...]:
    """The known places a short text (a question) names without a suffix (「那遵义呢」), leaving
    out those that are everyday words too. A name must begin and end where jieba's words do:
    「确保定点」 names no 保定, 「陕西安康」 no 西安."""
    found = []
    for name in KNOWN_PLACES - ALSO_WORDS:
        start = text.find(name)
        while start >= 0:
            if start in word_starts and start + len(name) in word_starts:
                found.append(name)
                break
            start = text.find(name, start + 1)
    return tuple(found)
