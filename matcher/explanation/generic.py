"""Words that are no reason for a match, in English and Chinese: kept out of every explanation.

A shared keyphrase, a related term or a candidate keyphrase must read as a reason. The tokenizer
already drops function words, bare numbers and single Chinese characters (:mod:`matcher.text.stopwords`,
used by BM25 too, so it is left alone); these lists hold what it lets through but a reader does
not take for a reason. They apply to the words of a term as the text writes them (lower-cased),
not to stems, since stems join words apart ("roughly" and "roughness" both stem to "rough").

- ``EDGE``: never at either end of a term, so never a term alone: number words and hedges
  ("two", "roughly", "various"), units and currencies ("min", "mm", "kg", "kW", "CNY", 万元) and the
  verbs of writing a need or a result ("need", "based", "developed", "reach", 获得, 开展, 超过).
  "laser welding developed" is no term, "laser welding" still is; "20 Hz" is no term, since the
  tokenizer keeps no bare number and a unit alone says nothing (two texts giving the same figure
  rarely share a reason for it); a number glued to a unit ("20Hz", "5kW") is no term either.
- ``GENERIC``: never alone, nor a term made only of such words, but a part of a longer term: the
  nouns and adjectives of any technical text ("low", "cost", "test", "system", 方案, 合作, 工艺).
  "low" and "low cost" are no terms; "low temperature", "salt spray test" and 散热方案 are.
- A Chinese word must be a word: one that jieba's dictionary holds, or one its HMM found that
  neither begins nor ends with a grammatical character (a preposition, conjunction, particle,
  adverb or pronoun of at least 10,000 in jieba's dictionary, ``FUNCTION_CHARACTERS``) and neither
  ends with a locative (上下中后...) nor begins with 下, 后, 中 or one of 使, 可, 时 (``LEADING``):
  "密度下比对照" makes 下比, which is no word (下 | 比), while 受电弓 and 外泌体 are kept. A Chinese
  number word (三个, 万次, 一半) is treated as a number.

How they were chosen (``benchmarks/measure_generic_terms.py`` prints every figure; measured on
2026-12-01, words as written, lower-cased):

- English ``GENERIC`` and the verbs of ``EDGE``: the candidates were the sample's words (data/, 110
  records in 9 fields) that are in at least 5% of the 1,813 pap2pat research abstracts *and* of the
  first 2,000 SBIR technology needs (common in research and in need writing alike) and in at least
  4 of the sample's 9 fields: 53 words ("based": papers 35%, needs 56%, sample 17 records in 9
  fields; "two": 21%, 20%, 8 in 7; "low", "high", "system", "cost", "test", "data", "new" ...).
  Kept as reasons, though common: those naming a thing, quantity or capability of a technology
  (temperature, detection, cell, efficiency, surface, light, network, learning). Their inflections
  and like words of the same classes were added by hand ("tests", "testing"; "reach", "keep",
  "takes", "minutes", "hours", each seen in the sample's explanations), and the need-writing verbs
  ("want": 16 of the 44 needs; "looking", "seek"), rare in papers.
- Number words, hedges and units: whole classes, each checked against the sample's explanations
  (before these lists, "two" was a shared term of a top-10 match 11 times, "km" 14, "kW" 11,
  "MW" 13, "minutes" 23, "CNY" 9).
- Chinese: the sample's 39 Chinese records, with jieba's dictionary frequency as a measure of
  general language: the words of frequency 2,000 or more used in 3 or more of the sample's fields
  (72), reviewed as above (超过 12 records in 7 fields, 合作 8 in 5, 方案 7 in 5, 开展 5 in 5, 获得 4
  in 3). Kept as reasons: 循环, 温度, 密度, 距离, 表面, 加工, 原料, 合成, 调节, 生长, 空气, 有机 (and 低温,
  冬季, 功率, 能耗, 衰减). Words the tokenizer already drops (实现, 提供, 进行, 研究, 技术, 问题, 方法,
  开发) are not repeated.
- The fragment rule was measured on the 100 words of the sample that jieba's dictionary lacks: it
  flags 28, all fragments or grammatical (下比, 其木脂, 率为, 常在, 时电堆, 不愿, 低至), and keeps the
  72 others, among them every technical term (冷链, 受电弓, 微流控, 外泌体, 电堆, 快充, 车规级) and about
  ten fragments it cannot tell (素类, 仍差, 经大孔).
- Effect on the sample (every record's top 10, both directions, 1,100 explanations): before, 1,632
  of the 3,321 shared terms and 34 of the 352 related terms were listed words; after, none. Every
  labelled match (data/expected_matches.csv) keeps its reasons (two lose units: "µg/kg"; "km" and
  "dB"); 6 top-1 matches now name nothing, each of which named only listed words before (获得;
  人工, 开展; 正在, 工艺; 减少, 每年, 消耗; 小于, 超过; "pilot, developed, line, running, high"), and so
  says it matched on overall meaning.

No IDF floor: the sample's commonest word ("low", "based") is in 15% of its records and the junk
words above in 2% to 15%, so a floor on catalogue frequency would miss them in a catalogue of a
few hundred records and, in a catalogue about one subject, drop its core words; a shared term's
weight (its IDF) already puts common words last.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from matcher.text.tokenize import CJK_CLASS, Token, in_dictionary


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NUMBER_WORDS = _words(
    """
    zero two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds
    thousand thousands million millions billion billions trillion dozen dozens half halves twice thrice
    first second third fourth fifth sixth seventh eighth ninth tenth
    """
)

HEDGES = _words(
    """
    roughly approximately approx nearly circa ca fewer various varied varying different differing
    numerous certain typical typically usually generally mostly mainly largely respectively overall
    already still currently recently really quite especially particularly significantly considerably
    substantially greatly slightly relatively highly additional additionally further etc directly
    """
)

UNITS = _words(
    """
    mm cm km µm μm um nm mg kg ton tons tonne tonnes ml min mins sec secs µs μs ns hr hrs
    hz khz mhz ghz thz kw mw gw tw kwh mwh gwh twh wh mah ah kv kva mva va ma mv kpa mpa gpa psi
    bar mbar atm db dba dbm ppm ppb wt vol mol mmol µmol μmol rpm lux nm3 cm2 cm3 mm2 km2 m²
    m³ cm² cm³ mm² km² ha percent pct cny rmb usd eur yuan kilowatt kilowatts megawatt megawatts
    毫米 厘米 千米 公里 微米 纳米 毫克 千克 公斤 吨 毫升 秒 分钟 小时 赫兹 千瓦 兆瓦 千伏 兆帕 千帕 公顷 万元 亿元
    """
)

# Verbs of writing a need or a result: at a term's end or start they only say what was done.
VERBS = _words(
    """
    need needs needed needing want wants wanted wanting seek seeks seeking sought look looks looking
    looked hope hopes wish aim aims aimed aiming expect expects expected interested based develop
    develops developed developing achieve achieves achieved achieving reach reaches reached reaching
    keep keeps kept keeping take takes took taken taking provide provides provided providing obtain
    obtains obtained obtaining get gets got getting give gives gave given giving show shows showed
    shown showing allow allows allowed allowing enable enables enabled enabling require requires
    required requiring meet meets met pass passes passed passing add adds added adding combine
    combines combined combining compare compares compared comparing comparable remain remains
    remained remaining stay stays stayed staying exceed exceeds exceeded exceeding cause causes
    caused causing fall falls fell fallen falling rise rises rose risen rising help helps helped
    helping offer offers offered offering include includes included including contains contained
    containing result results resulted resulting perform performs performed performing carry
    carries carried bring brings brought try tries tried apply applies applied applying produce
    produces produced producing reduce reduces reduced reducing increase increases increased
    increasing improve improves improved improving demonstrate demonstrates demonstrated
    demonstrating study studies studied studying investigate investigates investigated propose
    proposes proposed present presents presented report reports reported evaluate evaluates
    evaluated evaluating estimate estimates estimated measure measures measured measuring validate
    validates validated validating avoid avoids avoided avoiding lose loses lost losing cover covers
    covered covering
    获得 取得 开展 完成 结合 满足 适用 只能 寻找 导致 造成 建立 保持 出现 发现 包括 依赖 缩短 提升 减少
    增加 下降 上升 降至 低至 高达 超过 小于 大于 低于 高于 不足 以内 正在 现有 每年 已有 配合 为主 不愿
    仍然 实施 推进 推动 促进 引进 引入 拥有 形成 具备 属于 存在 作为 面向 针对 围绕 解决 改善 优化 达成
    推广 考核 覆盖 消耗 提出 表明 显示 难以 增强
    """
)

EDGE = NUMBER_WORDS | HEDGES | UNITS | VERBS

GENERIC = _words(
    """
    test tests testing tested system systems method methods process processes processing approach
    approaches technique techniques technology technologies solution solutions application
    applications problem problems issue issues cost costs costly time times year years month months
    week weeks day days hour hours minute minutes seconds data model models design designs level
    levels rate rates range ranges type types kind kinds way ways part parts area areas field fields
    case cases example examples number numbers amount quality performance material materials product
    products production development operation operations operating operate operates operated
    research project projects work works working team company companies customer customers client
    clients partner partners supplier suppliers user users market markets laboratory laboratories
    lab labs pilot pilots line lines site sites scale state stage stages factor factors condition
    conditions content contents target targets limit limits limited feature features function
    functions means region regions regional local locally china chinese northeast north east
    province city world global industry industries industrial control controlled controlling
    structure structures run runs running ran low high higher highest lower lowest new newer better
    best good large larger small smaller big fast faster long longer short current existing stable
    full free single standard common conventional traditional main major key important novel
    advanced simple easy available possible able suitable whole total specific similar non active
    direct related relative effective integrated constant inside safe share form de re co pre
    anti multi semi sub bi tri micro nano self analysis reduction
    合作 合作开发 合作研发 方案 条件 工艺 环境 传统 产品 时间 周期 性能 成本 设计 设备 结构 材料 生产 控制
    试验 检测 运行 稳定 快速 东北 地区 城市 国内 国外 中国 全国 客户 用户 市场 中试 示范 研制 管理 系统
    模型 体系 部件 绿色 效率 质量 能力 水平 领域 行业 产业 应用 功能 需求 目标 效果 成果 数据 平台 模式
    服务 规模 阶段 标准 指标 参数 范围 程度 结果 装置 产线 小批量 批量 频繁 配套 耗时 自主 人工
    """
)

# Grammatical characters (jieba's dictionary: prepositions, conjunctions, particles, adverbs and
# pronouns of frequency 10,000 or more) and locatives (上下中后...): a word jieba's HMM made up
# that begins or ends with one of the first, or ends with a locative, is a cut across words.
FUNCTION_CHARACTERS = frozenset(
    "不与为之也了于仅从他以任但你便先共其再则别却又及另只各同向和哪因在地均太她它对将就已常并得我或所才把按"
    "据既更曾最未本极正比用由的直真着竟等约给而自至若被该谁越跟边过还这那都除"
)
LOCATIVES = frozenset("上下中初前后外西里间")
LEADING = frozenset("下后中使可时")

# Stored profiles hold which of their terms are no reason, so a change to the lists remakes them
# (a change to the rules below: bump PROFILE_VERSION).
VERSION = hashlib.sha1(
    "|".join(" ".join(sorted(words)) for words in (EDGE, GENERIC, FUNCTION_CHARACTERS, LOCATIVES, LEADING)).encode()
).hexdigest()[:8]

_CJK_WORD = re.compile(rf"[{CJK_CLASS}]+")
_CJK_CHARACTER = re.compile(rf"[{CJK_CLASS}]")
_CHINESE_NUMBER = re.compile(
    r"第?[零一二三四五六七八九十百千万亿两半几数]+[个种次倍项台套件家位名条只株亩粒头批轮组层年天月周]?"
)
_GLUED_UNIT = re.compile(r"\d+(?:[.,]\d+)*([^\W\d_]+[23²³]?)")


def fragment(word: str) -> bool:
    """A Chinese token that is no word: made up by jieba's HMM across a word boundary (下比)."""
    if not _CJK_WORD.fullmatch(word) or in_dictionary(word):
        return False
    first, last = word[0], word[-1]
    return first in FUNCTION_CHARACTERS or first in LEADING or last in FUNCTION_CHARACTERS or last in LOCATIVES


def _edge(word: str) -> bool:
    if word in EDGE or _CHINESE_NUMBER.fullmatch(word):
        return True
    glued = _GLUED_UNIT.fullmatch(word)
    return glued is not None and glued.group(1) in UNITS


def reason(words: Sequence[str]) -> bool:
    """Whether a term of these words (as written, lower-cased) can be a reason for a match."""
    if not words or _edge(words[0]) or _edge(words[-1]):
        return False
    if all(word in GENERIC or _edge(word) for word in words):
        return False
    return not any(fragment(word) for word in words)


def not_reasons(tokens: list[Token], seen: set[str], max_words: int = 3) -> Iterable[str]:
    """The term keys of ``tokens`` whose first occurrence is no reason; ``seen`` keys are skipped (and added).

    The terms are those of :func:`matcher.text.tokenize.terms`, in the same order, so a key's first
    occurrence here is the first occurrence an explanation shows.
    """
    for i, first in enumerate(tokens):
        if not first.keyword:
            continue
        norms: list[str] = []
        words: list[str] = []
        for token in tokens[i : i + max_words]:
            if not token.keyword or token.chunk != first.chunk:
                break
            norms.append(token.norm)
            words.append(token.surface.lower())
            key = " ".join(norms)
            if key not in seen:
                seen.add(key)
                if not reason(words):
                    yield key


def share_a_character(first: str, second: str) -> bool:
    """Whether two terms share a Chinese character: in Chinese a character is a part of a word's meaning,
    so 成本 and 合成, or 下一代 and 同一, are not worded apart (nor related by more than that character)."""
    return not set(_CJK_CHARACTER.findall(first)).isdisjoint(_CJK_CHARACTER.findall(second))
