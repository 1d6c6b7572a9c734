"""A rule-based dialogue state tracker for CrossWOZ that reads the user's (and system's) text.

The state has the shape of CrossWOZ's `sys_state_init` without `selectedResults`. Values come from
the user's words (ratings, prices, durations normalised to the corpus' forms), from the database
lexicon (names, dishes, facilities) and from the system's last recommendation when the user refers
to it ("这家酒店", "景点周边"). Hand-written because no trained Chinese DST ships offline; the
rules are small and each one is named for the slot it fills.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import cast

from taskbot.crosswoz.lexicon import Lexicon, Mention

SLOTS: dict[str, list[str]] = {
    "景点": ["名称", "门票", "游玩时间", "评分", "周边景点", "周边餐馆", "周边酒店"],
    "餐馆": ["名称", "推荐菜", "人均消费", "评分", "周边景点", "周边餐馆", "周边酒店"],
    "酒店": ["名称", "酒店类型", "酒店设施", "价格", "评分", "周边景点", "周边餐馆", "周边酒店"],
    "地铁": ["出发地", "目的地"],
    "出租": ["出发地", "目的地"],
}
PLACES = ("景点", "餐馆", "酒店")
#: constraints the wizards relaxed when their offer did not meet them (chosen on our train split)
RELAX_SLOTS = frozenset({"人均消费", "价格", "门票", "评分", "酒店设施", "酒店类型", "周边景点", "周边餐馆", "周边酒店"})

State = dict[str, dict[str, str]]

# nouns that name a domain; the last one not followed by 周边/附近 is what the user is looking for
_NOUNS = {
    "酒店": r"酒店|宾馆|旅馆|客栈|住处|住的地方",
    "餐馆": r"餐馆|餐厅|饭店|饭馆|馆子|饭庄|吃饭的地方|吃的地方|地方吃",
    "景点": r"景点|景区|地方玩|玩的地方|地方游玩",
}
_VERBS = {
    "酒店": r"住宿|入住|住下|住一晚|住店|住",
    "餐馆": r"吃|用餐|就餐|美食|推荐菜|人均",
    "景点": r"游玩|玩|游览|参观|逛|门票|票价",
}
_NEAR = r"(?:的)?(?:周边|附近|周围|旁边|边上)"
_REF = r"(?:这家|这个|该|那家|那个|这座|此|它家|他家|它的|他的|它|他)"

_NUM = r"\d+(?:\.\d+)?"
_RANGE = re.compile(rf"({_NUM})\s*(?:元)?\s*(?:-|~|—|－|到|至)\s*({_NUM})\s*(?:元|之间|的|左右|$)")
_ABOVE = re.compile(rf"({_NUM})\s*元\s*(?:以上|及以上|或以上|往上)")
_BELOW = re.compile(rf"({_NUM})\s*元\s*(?:以下|及以下|或以下|以内|一下)")
_RATING = re.compile(rf"(?:评分|评价|分数|打分)[^，。,？?！!\d]{{0,6}}({_NUM})\s*分?\s*(以上|及以上|或以上|往上|左右)?")
_RATING2 = re.compile(rf"({_NUM})\s*分\s*(以上|及以上|或以上)")
_RATING3 = re.compile(rf"(?:一个|一家|个|家)\s*({_NUM})\s*分()(?!钟)")
_DURATION_RANGE = re.compile(rf"({_NUM}|半|一|两|二|三|四|五|六)\s*(?:个)?\s*(小时|天)?\s*(?:-|~|—|到|至|或)\s*({_NUM}|一|两|二|三|四|五|六)\s*(?:个)?\s*(小时|天)")
_DURATION = re.compile(rf"({_NUM}|半|一|两|二|三|四|五|六|十二)\s*(?:个)?\s*(小时|天)")
_CN_NUM = {"半": "0.5", "一": "1", "两": "2", "二": "2", "三": "3", "四": "4", "五": "5", "六": "6", "十二": "12"}
_HOTEL_TYPE = re.compile(r"(经济|舒适|高档|豪华)(型)?")
#: the system admits its offer does not meet every wish
_UNMET = re.compile(r"没有|抱歉|不好意思|对不起|不符合|没找到|没能|只有|只找到|最接近|但是|不过|其他条件|其它")
_FREE = re.compile(r"免费|免票|不要钱|不收费|不花钱|没有门票|不要门票|无门票|不用门票|不需要门票")
#: words of a search ("find me a ... that ..."), as opposed to a question about a known place
_SEARCH = re.compile(r"找|推荐|预订|订一|选一|想去|想住|打算去|安排|介绍|有什么.{0,10}(?:景点|餐馆|酒店|地方)|有没有.{0,30}(?:酒店|餐馆|餐厅|景点|地方)|有.{0,30}的(?:酒店|餐馆|餐厅|景点)|哪家|哪个|哪些.{0,10}(?:是|有)")
#: a yes/no question about a place already chosen ("这家酒店有会议室吗")
_CHECK = re.compile(r"(?:这家|这个|该|它|他家|那家|(?:酒店|餐馆|餐厅|景点)的?)[^，。？?]{0,30}(?:是否|有没有|是不是|吗|(?<![什怎这那多要])么|\?|？)")
#: asking what is near a place, not searching near it
_NEAR_REQUEST = re.compile(r"(?:周边|附近|周围)(?:都|还)?(?:有|是)(?:哪些|什么|啥|没有|吗|些)|(?:周边|附近|周围)的?(?:景点|餐馆|酒店|餐厅)(?:都)?有(?:哪些|什么|啥)")
_FIND = re.compile(r"找|推荐")
_NONE_NEAR = re.compile(r"(?:周边|附近|周围)[^，。,！!？?]{0,8}(?:没有|无)|没有[^，。,！!？?]{0,8}(?:周边|附近)")
#: words around a place name that say the user chose it ("就去X吧", "我还是想去X")
_CHOICE_BEFORE = re.compile(r"想去|要去|去|选|就|喜欢|还是|我要|打算")
_CHOICE_AFTER = re.compile(r"吧|了|就|我觉得|不错|挺好|更")
#: "among these nearby restaurants ...": a search near the place just discussed
_AMONG = re.compile(r"(?:这些|那些|刚才那些|周边的|附近的|你说的)(?:个)?(?:周边的?|附近的?)?(景点|餐馆|餐厅|酒店)(?:里|中|当中|里面)")
_NOT_FREE = re.compile(r"不免费|收费的|不是免费|(?<![不])要门票|(?<![不])需要门票|无需要免门票")


@dataclass
class Context:
    """What the tracker remembers besides the state: focus and what the system offered."""

    domain: str | None = None
    #: names of each place domain the system mentioned last, newest last
    offered: dict[str, list[str]] = field(default_factory=lambda: {d: [] for d in PLACES})
    #: per domain, the place a system turn was about (the first one it named)
    focus: dict[str, str] = field(default_factory=dict)
    #: the place whose surroundings the user asked about last ("这家餐馆周边有酒店吗")
    near_subject: tuple[str, str] | None = None
    #: the system found nothing near the place asked about: the wizards dropped that condition
    relax_near: bool = False
    #: every place the system has named in this dialogue
    mentioned: set[str] = field(default_factory=set)
    #: the places of each domain named in the system's last turn
    last_offered: dict[str, set[str]] = field(default_factory=dict)
    #: constraints the system's offer did not meet: relaxed at the next user turn
    relax: list[tuple[str, str]] = field(default_factory=list)


def empty_state() -> State:
    return {d: {s: "" for s in slots} for d, slots in SLOTS.items()}


def _money(text: str) -> str | None:
    m = _RANGE.search(text)
    if m:
        return f"{_n(m.group(1))}-{_n(m.group(2))}元"
    m = _ABOVE.search(text)
    if m:
        return f"{_n(m.group(1))}元以上"
    m = _BELOW.search(text)
    if m:
        return f"{_n(m.group(1))}元以下"
    return None


def _n(x: str) -> str:
    return x[:-2] if x.endswith(".0") else x


def _rating(text: str) -> str | None:
    m = _RATING.search(text) or _RATING2.search(text) or _RATING3.search(text)
    if not m:
        return None
    value = _n(m.group(1))
    try:
        if float(value) > 5:
            return None
    except ValueError:
        return None
    if m.group(2) and "以上" in m.group(2) or m.group(2) == "往上":
        return f"{value}分以上"
    return "5分" if value == "5" else f"{value}分以上"


def _duration(text: str) -> str | None:
    m = re.search(r"(\d)\s*[、,，或]\s*(\d)\s*个?\s*(小时|天)", text)
    if m:
        return f"{m.group(1)}{m.group(3)} - {m.group(2)}{m.group(3)}"
    m = _DURATION_RANGE.search(text)
    if m:
        a, ua, b, ub = m.group(1), m.group(2) or m.group(4), m.group(3), m.group(4)
        return f"{_CN_NUM.get(a, _n(a))}{ua} - {_CN_NUM.get(b, _n(b))}{ub}"
    if "半小时" in text or "半个小时" in text:
        return "0.5小时"
    m = _DURATION.search(text)
    if m:
        return f"{_CN_NUM.get(m.group(1), _n(m.group(1)))}{m.group(2)}"
    return None


def _clause_around(text: str, start: int, end: int) -> str:
    """The clause (between punctuation) that holds text[start:end]."""
    left = max(text.rfind(p, 0, start) for p in "，。,！!？?；;") + 1
    rights = [i for i in (text.find(p, end) for p in "，。,！!？?；;") if i != -1]
    return text[left : min(rights) if rights else len(text)]


class CrossWOZTracker:
    """Turn-by-turn state update from the user's text (and the system's previous text)."""

    def __init__(self, lexicon: Lexicon, fill_name_on_mention: bool = False) -> None:
        self.lexicon = lexicon
        # every mention as 名称 (measured worse on our train split: the wizards rarely did)
        self.fill_name_on_mention = fill_name_on_mention
        self.relax_slots: frozenset[str] = RELAX_SLOTS
        self.relax_needs_cue = False
        self.use_focus = True
        self.near_on_question = True
        self.old_checking = True
        self.use_near_subject = True
        self.relax_skip_near = True
        self.relax_near_none = True
        self.name_own_question = True
        self.new_search_clears_name = True

    def new(self) -> tuple[State, Context]:
        return empty_state(), Context()

    def observe_system(self, state: State, ctx: Context, text: str) -> None:
        """Remember the places the system named (what "这家" / "它" will refer to), and which
        constraints its offer breaks: the user going along with it relaxes them."""
        first: dict[str, str] = {}
        for m in self.lexicon.find(text):
            if m.kind.startswith("name:") and m.kind[5:] in PLACES:
                if self.relax_skip_near and re.search(r"周边|附近|旁边|周围", text[: m.start]):
                    continue  # a list of what is nearby, not an offer
                first.setdefault(m.kind[5:], m.value)
        ctx.focus.update(first)
        if self.relax_near_none and ctx.domain in PLACES and _NONE_NEAR.search(text):
            ctx.relax_near = True
        ctx.last_offered = {}
        for m in self.lexicon.find(text):
            if m.kind.startswith("name:") and m.kind[5:] in PLACES:
                ctx.last_offered.setdefault(m.kind[5:], set()).add(m.value)
                ctx.mentioned.add(m.value)
        ctx.relax = []
        if self.relax_needs_cue and not _UNMET.search(text):
            first = {}
        for dom, name in first.items():
            row = self.lexicon.rows.get(dom, {}).get(name)
            if row is not None:
                ctx.relax.extend((dom, s) for s in violated_slots(dom, row, state[dom]) if s in self.relax_slots)
        for m in self.lexicon.find(text):
            if m.kind.startswith("name:"):
                dom = m.kind[5:]
                if dom in ctx.offered:
                    lst = ctx.offered[dom]
                    if m.value in lst:
                        lst.remove(m.value)
                    lst.append(m.value)

    def _noun_target(self, text: str) -> str | None:
        best: tuple[int, str] | None = None
        for dom, rx in _NOUNS.items():
            for m in re.finditer(rx, text):
                if re.match(_NEAR, text[m.end() :]):
                    continue
                if best is None or m.start() > best[0]:
                    best = (m.start(), dom)
        return best[1] if best else None

    def _target(self, text: str, ctx: Context) -> str | None:
        """The place domain the user is asking about: the last domain noun that is not a 'near X'."""
        best: tuple[int, str] | None = None
        for dom, rx in _NOUNS.items():
            for m in re.finditer(rx, text):
                if re.match(_NEAR, text[m.end() :]):
                    continue
                if best is None or m.start() > best[0]:
                    best = (m.start(), dom)
        if best:
            return best[1]
        for dom, rx in _VERBS.items():
            for m in re.finditer(rx, text):
                if best is None or m.start() > best[0]:
                    best = (m.start(), dom)
        return best[1] if best else None

    def _entity_of(self, dom: str, state: State, ctx: Context) -> str:
        if state[dom]["名称"]:
            return state[dom]["名称"]
        if self.use_focus and ctx.focus.get(dom):
            return ctx.focus[dom]
        offered = ctx.offered.get(dom) or []
        return offered[-1] if offered else ""

    def update(self, state: State, ctx: Context, user: str) -> State:
        state = copy.deepcopy(state)
        text = user
        for dom, slot in ctx.relax:
            state[dom][slot] = ""
        ctx.relax = []
        if ctx.relax_near and ctx.domain in PLACES:
            for slot in ("周边景点", "周边餐馆", "周边酒店"):
                state[ctx.domain][slot] = ""
        ctx.relax_near = False
        mentions = self.lexicon.find(text)
        masked = text
        for m in mentions:
            if m.kind in ("facility", "dish"):
                # "中式餐厅" is a hotel facility, not a restaurant being looked for
                masked = masked[: m.start] + "某" * (m.end - m.start) + masked[m.end :]
        target = self._target(masked, ctx) or ctx.domain
        names = [m for m in mentions if m.kind.startswith("name:")]
        noun = self._noun_target(text)
        spans: dict[tuple[int, int], list[Mention]] = {}
        for m in names:
            spans.setdefault((m.start, m.end), []).append(m)
        names = [
            m for group in spans.values()
            for m in ([x for x in group if x.kind == f"name:{noun}"] or group[:1] if len(group) > 1 else group)
        ]

        # metro / taxi: from A to B
        bare = text
        for m in names:
            bare = bare.replace(m.value, "某地")
        transport = "地铁" if "地铁" in bare else ("出租" if re.search(r"出租|打车|打的|的士|叫车|叫个车", bare) else None)
        facility_words = {m.value for m in mentions if m.kind == "facility"}
        if transport and not re.search(r"从|车型|车牌|地铁站|坐地铁|乘地铁", bare) and (facility_words or "酒店" in text):
            transport = None  # "提供出租车的酒店": a hotel facility, not a ride
        if transport:
            self._route(state, ctx, text, names, transport)
            ctx.domain = transport
            return state

        used: set[int] = set()
        free_names = [m for m in names if not re.match(_NEAR, text[m.end :])]
        specific = bool(re.search(r"这家|这个(?:酒店|餐馆|餐厅|景点)|它|他家|该", text)) or bool(free_names)
        yes_no = bool(re.search(r"吗|(?<![什怎这那多要])么|是否|是不是", text))
        among = bool(re.search(r"哪|这些|那些|有没有|周边|附近", text))
        if self.old_checking:
            checking = bool(_CHECK.search(text)) and not _SEARCH.search(text)
            checking = checking or (bool(names) and yes_no and not _FIND.search(text))
        else:
            checking = specific and yes_no and not among and not _FIND.search(text)
        constrained = bool(_money(text) or _rating(text) or [m for m in mentions if m.kind in ("dish", "facility")] or _HOTEL_TYPE.search(text))
        near_search = bool(_FIND.search(text)) or (self.near_on_question and constrained and bool(re.search(r"哪|有没有|吗|么", text)))
        # "near X": X by name or by reference
        for m in names:
            after = text[m.end :]
            if re.match(_NEAR, after):
                dom = m.kind[5:]
                tgt = self._target(text[m.end :], ctx) or target
                used.add(m.start)
                ctx.near_subject = (dom, m.value)
                if tgt in PLACES and near_search:
                    state[tgt][f"周边{dom}"] = m.value
                    used.add(m.start)
        for rm in re.finditer(rf"(?:{_REF})?({'|'.join(_NOUNS.values())}){_NEAR}", text):
            ref_dom = next(d for d, rx in _NOUNS.items() if re.fullmatch(rx, rm.group(1)))
            tgt = self._target(text[rm.end() :], ctx)
            if self._entity_of(ref_dom, state, ctx):
                ctx.near_subject = (ref_dom, self._entity_of(ref_dom, state, ctx))
            if tgt is None or tgt not in PLACES or not near_search:
                continue
            entity = self._entity_of(ref_dom, state, ctx)
            if entity:
                state[tgt][f"周边{ref_dom}"] = entity
        m_among = _AMONG.search(text)
        if m_among and not used and ctx.near_subject is not None and self.use_near_subject:
            tgt = next(d for d, rx in _NOUNS.items() if re.fullmatch(rx, m_among.group(1)))
            ref_dom, entity = ctx.near_subject
            if entity:
                state[tgt][f"周边{ref_dom}"] = entity
        elif m_among and not used and ctx.domain in PLACES:
            tgt = next(d for d, rx in _NOUNS.items() if re.fullmatch(rx, m_among.group(1)))
            entity = self._entity_of(ctx.domain, state, ctx)
            if entity:
                state[tgt][f"周边{ctx.domain}"] = entity
        # a new search in a domain forgets the place chosen there before
        if self.new_search_clears_name and target in PLACES and _FIND.search(text) and constrained:
            if not any(m.kind == f"name:{target}" for m in names):
                state[target]["名称"] = ""
        # names said outright are the place asked about
        for m in names:
            if m.start in used:
                continue
            dom = m.kind[5:]
            named = text[max(0, m.start - 3) : m.start].endswith(("名叫", "叫做", "名为"))
            chosen = bool(_CHOICE_BEFORE.search(text[max(0, m.start - 6) : m.start]) or _CHOICE_AFTER.match(text[m.end :]))
            offered = ctx.last_offered.get(dom, set())
            # picking one of several offers, or naming a new place one wants to go to
            picked = chosen and (len(offered) > 1 or m.value not in offered)
            # a place the system never named, asked about: the user brought their own choice
            own = m.value not in ctx.mentioned and bool(re.search(r"吗|么|？|\?|多少|哪|什么|几", text))
            picked = picked or (own and self.name_own_question)
            if dom in PLACES and (self.fill_name_on_mention or named or picked):
                state[dom]["名称"] = m.value
                target = target or dom
        if not checking:
            self._constraints(state, text, target, mentions)
        if target:
            ctx.domain = target
        return state

    def _constraints(self, state: State, text: str, target: str | None, mentions: list[Mention]) -> None:
        dishes = [m.value for m in mentions if m.kind == "dish"]
        if dishes and re.search(r"吃|菜|做|有|餐|卖|尝", text):
            state["餐馆"]["推荐菜"] = " ".join(dict.fromkeys(dishes))
        facilities = [m.value for m in mentions if m.kind == "facility"]
        if facilities:
            state["酒店"]["酒店设施"] = " ".join(dict.fromkeys(facilities))
        m = _HOTEL_TYPE.search(text)
        if m and (m.group(2) or re.search(r"酒店|宾馆|住", text)):
            state["酒店"]["酒店类型"] = m.group(0)
        # money: which slot depends on the words around it
        for clause in re.split(r"[，。,！!？?；;]", text):
            money = _money(clause)
            if money is None:
                continue
            if re.search(r"人均|消费", clause):
                state["餐馆"]["人均消费"] = money
            elif re.search(r"门票|票价|票", clause):
                state["景点"]["门票"] = money
            elif re.search(r"一晚|每晚|房费|房价", clause):
                state["酒店"]["价格"] = money
            elif re.search(r"价格|价位", clause):
                # "价格" is the hotel's word, unless the sentence is about a sight or a restaurant
                noun = self._noun_target(text)
                slot = {"景点": "门票", "餐馆": "人均消费"}.get(noun or "", "价格")
                state[{"门票": "景点", "人均消费": "餐馆"}.get(slot, "酒店")][slot] = money
            elif target == "餐馆":
                state["餐馆"]["人均消费"] = money
            elif target == "景点":
                state["景点"]["门票"] = money
            elif target == "酒店":
                state["酒店"]["价格"] = money
        if _NOT_FREE.search(text):
            state["景点"]["门票"] = "1元以上"
        elif _FREE.search(text):
            state["景点"]["门票"] = "免费"
        for clause in re.split(r"[，。,！!？?；;]", text):
            # the duration next to 玩/时长 ("过两天小长假，找个可以玩3天的景点" is 3天)
            if re.search(r"游玩|玩|游览|时长|时间", clause):
                d = _duration(clause)
                if d:
                    state["景点"]["游玩时间"] = d
                    break
        r = _rating(text)
        if r:
            m2 = _RATING.search(text) or _RATING2.search(text) or _RATING3.search(text)
            assert m2 is not None
            dom = self._noun_target(_clause_around(text, m2.start(), m2.end())) or target
            if dom in PLACES:
                state[dom]["评分"] = r

    def _route(self, state: State, ctx: Context, text: str, names: list[Mention], transport: str) -> None:
        m = re.search(r"从(.+?)(?:坐|乘|搭|打|叫|去|到|出发)", text)
        n = re.search(r"(?:到|去|回)(.+?)(?:的地铁|的出租|的话|怎么|应该|，|。|？|\?|$)", text[m.end() - 1 :] if m else text)
        for key, part in (("出发地", m.group(1) if m else None), ("目的地", n.group(1) if n else None)):
            if not part:
                continue
            place = next((x.value for x in names if x.value in part), None)
            if place is None:
                dom = next((d for d, rx in _NOUNS.items() if re.search(rx, part)), None)
                if dom is None:
                    dom = next((d for d, rx in _VERBS.items() if re.search(rx, part)), None)
                if dom is not None:
                    place = self._entity_of(dom, state, ctx)
            if place:
                state[transport][key] = place


def _in_range(constraint: str, value: object) -> bool | None:
    """Whether a database number satisfies a price-like constraint; None when it cannot tell."""
    if constraint == "免费":
        return value == 0 if isinstance(value, int | float) else False
    if value is None:
        return False
    if not isinstance(value, int | float):
        return None
    m = re.fullmatch(rf"({_NUM})-({_NUM})元", constraint)
    if m:
        return float(m.group(1)) <= value <= float(m.group(2))
    m = re.fullmatch(rf"({_NUM})元以上", constraint)
    if m:
        return value >= float(m.group(1))
    m = re.fullmatch(rf"({_NUM})元以下", constraint)
    if m:
        return value <= float(m.group(1))
    return None


def _rating_ok(constraint: str, value: object) -> bool | None:
    if value is None:
        return False
    if not isinstance(value, int | float):
        return None
    m = re.fullmatch(rf"({_NUM})分(以上)?", constraint)
    if not m:
        return None
    return value >= float(m.group(1)) if m.group(2) else value == float(m.group(1))


def violated_slots(domain: str, row: dict[str, object], constraints: dict[str, str]) -> list[str]:
    """The constraint slots an offered place does not meet (the wizard relaxes those)."""
    out: list[str] = []
    for slot, want in constraints.items():
        if not want or slot == "名称":
            continue
        ok: bool | None = None
        if slot in ("人均消费", "价格", "门票"):
            ok = _in_range(want, row.get(slot))
        elif slot == "评分":
            ok = _rating_ok(want, row.get(slot))
        elif slot in ("推荐菜", "酒店设施"):
            have = set(cast(list[str], row.get(slot) or []))
            ok = all(w in have for w in want.split())
        elif slot == "酒店类型":
            ok = str(row.get(slot) or "").startswith(want.rstrip("型"))
        elif slot == "游玩时间":
            ok = "".join(str(row.get(slot) or "").split()) == "".join(want.split())
        elif slot.startswith("周边"):
            ok = want in cast(list[str], row.get(slot) or [])
        if ok is False:
            out.append(slot)
    return out
