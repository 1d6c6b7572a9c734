"""The safety funnel: the checks every turn passes before a bot sees it, in a fixed order.

sensitive words -> prompt injection -> answer cache -> reject (gibberish / out of scope).
Each stage returns a `Verdict`; a verdict with a reply ends the pipeline for this turn.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from csbot.lexicon import LexiconCache
from csbot.pipeline.fold import fold, squeeze
from csbot.pipeline.pii import mask_pii
from csbot.pipeline.sensitive import SensitiveMatcher, WordAction
from csbot.pipeline.texts import text
from csbot.sessions import DialogueState
from csbot.types import Reply, ReplyKind, Source, Turn, Verdict, VerdictAction

log = logging.getLogger(__name__)


class FunnelStage(Protocol):
    name: str

    async def check(self, turn: Turn, state: DialogueState) -> Verdict: ...


def _passed(stage: str, detail: str = "") -> Verdict:
    return Verdict(stage=stage, action=VerdictAction.passed, detail=detail)


def _canned(name: str, kind: ReplyKind, turn: Turn, *, failed: bool = True) -> Reply:
    return Reply(text=text(name, turn.lang), kind=kind, source=Source(bot="funnel"), confidence=1.0, failed=failed)


class SensitiveWordStage:
    """Block, mask or escalate per word class, from the tenant's editable lexicon."""

    name = "sensitive"

    def __init__(self, matchers: LexiconCache[SensitiveMatcher]) -> None:
        self.matchers = matchers

    async def check(self, turn: Turn, state: DialogueState) -> Verdict:
        matcher = await self.matchers.get(turn.tenant_id)
        hits = matcher.find(turn.query)
        worst = matcher.worst(hits)
        if worst is None:
            return _passed(self.name)
        detail = ",".join(sorted({f"{h.category or 'word'}:{h.action}" for h in hits}))
        if worst is WordAction.escalate:
            return Verdict(stage=self.name, action=VerdictAction.escalate, detail=detail,
                           reply=_canned("escalate", ReplyKind.handoff, turn, failed=False))
        if worst is WordAction.block:
            return Verdict(stage=self.name, action=VerdictAction.block, detail=detail,
                           reply=_canned("blocked", ReplyKind.reject, turn))
        return Verdict(stage=self.name, action=VerdictAction.mask, detail=detail, text=matcher.mask(turn.query, hits))


# Attempts to override the bot's instructions or extract them. Kept specific: ordinary questions
# such as "忽略这个订单", "系统提示库存不足" or "忘记密码了" must pass. Matched on the folded,
# squeezed text (csbot.pipeline.fold) so full width, look-alikes, zero-width characters and
# spaced-out letters change nothing, and on base64 runs decoded once.
_INJECTION = re.compile(
    "|".join(
        [
            r"(ignore|forget|disregard|override|bypass|skip) (all |any |the |your |my |every )*"
            r"(previous |prior |above |earlier |preceding |initial |original |system |safety |old )+"
            r"(instructions?|prompts?|rules|directions|guidelines|messages?|context|settings)",
            r"disregard (all |the |your )?(previous|prior|above|system) ",
            r"(reveal|show|print|repeat|output|tell me|display|dump|leak|give me|share|write out|recite|"
            r"what (is|are|was|were)) (me )?(all )?(of )?your (full |exact |entire |hidden |secret |original |initial )*"
            r"(system |developer |hidden |initial |original )*(prompt|instructions|rules|guidelines|configuration)",
            r"(reveal|show|print|repeat|output|tell me|display|dump|leak|give me|share|write out|recite) (me )?the "
            r"(full |exact |entire |secret )*(system|developer|hidden|initial|original) (prompt|instructions|message|rules)",
            r"(system|developer|hidden|initial) (prompt|instructions|message)",
            r"repeat (the |all |everything |every )*(text|words?|lines?|everything|above|before)",
            r"(text|words|everything|content) (above|before) (this|the|my)",
            r"you are now (a |an |my )?(dan|developer mode|unrestricted|jailbroken|evil|unfiltered|free)",
            r"\bjailbreak|\bdan mode\b|developer mode|do anything now|\bdan\b.{0,20}(mode|prompt|jailbreak)",
            r"\b(pretend|act|behave|roleplay|role-play) (to be|as if|as|like) (you are |you're )?(an? )?"
            r"(unrestricted|unfiltered|evil|different|dan|hacker|admin|developer|system|ai without|chatbot without)",
            r"from now on,? (you|your) (are|will|must|have no|answer)",
            r"new (system )?(instructions|rules|persona)\s*:",
            r"(no|without) (any )?(restrictions|filters|rules|limitations|censorship)",
            r"<\|?im_start|\[/?inst\]|<\|system\|>|</?system>|\[system\]|#{2,} ?(system|instruction)",
            r"(translate|summari[sz]e|paraphrase|rewrite|encode) (your|the) (instructions|prompt|rules|words above|text above)",
            r"instructions you (were|have been|got) (given|told)|internal note|passages>>>|<<<passages",
            r"(other|another|all) (users?|customers?)('s|s')? (orders?|phones?|numbers?|data|addresses|information|info)",
            r"(忽略|无视|忘记|忘掉|抛开|跳过|绕过|不要管)(你)?(之前|以上|上面|前面|先前|所有|全部|原来|原先|原有|你)的?(所有|全部)?"
            r"(指令|指示|提示|规则|设定|限制|约束|要求|身份|人设|说明)",
            r"(输出|告诉我|显示|打印|重复|复述|透露|泄露|念出|写出|给我看|说出|发给我|翻译)(一下|出)?(你的|你收到的|你的全部|全部的|所有的)?"
            r"(系统)?(提示词|提示语|指令|system prompt|初始设定|内部设定|隐藏设定|原始指令|说明文字)",
            r"系统提示词|系统指令|system prompt|初始指令|内部指令|内部备注",
            r"你的(初始|内部|隐藏|原始|全部)(设定|指令|提示|备注|说明)",
            r"(原样|逐字|一字不差|完整)(地)?(输出|复述|重复|打印|给出)",
            r"(复述|重复|输出|打印)(一下)?(上面|以上|前面|之前)(的)?(内容|文字|话|所有)",
            r"你现在(是|扮演|变成)(一个)?(没有|不受|无)(任何)?(限制|约束|审查|过滤)",
            r"(没有|不受|无|解除|取消)(任何)?(限制|约束|审查|过滤)(的)?(ai|模式|助手|机器人|版本)",
            r"(假装|扮演|充当|模拟)(你是|成|一个)?(一个)?(没有|不受|邪恶|黑客|管理员|开发者|系统|dan|坏人|另一个)",
            r"(从现在(开始|起)|接下来)(你|你的)(是|将|必须|要|只能|不再)",
            r"(越狱|开发者模式|管理员模式|上帝模式|无限制模式)",
            r"(其他|别的|另一个|其它|所有)(用户|客户|顾客|人)(的)(订单|手机|电话|号码|地址|信息|数据|资料)",
        ]
    )
)
#: the same phrases with optional spaces, for text whose spelled-out letters were squeezed together
_INJECTION_LOOSE = re.compile(_INJECTION.pattern.replace(" ", " ?"))
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


#: what the generator can see of a message (chatbot.prompts.sanitise keeps 1000 characters), with room
INSPECT_CHARS = 2000


def injection_match(text: str, raw: str | None = None) -> str | None:
    """The injection phrase found in `text` (disguised, or base64-encoded in `raw`), or None."""
    text = text[:INSPECT_CHARS]
    plain = re.sub(r"\s+", " ", text.lower())
    m = _INJECTION.search(plain)
    if m:
        return m.group(0)
    views = []
    squeezed = re.sub(r"\s+", " ", squeeze(fold(text)).text)
    if squeezed != plain:  # the loose pattern costs more: only when folding changed something
        views.append(squeezed)
    for run in _B64_RUN.findall((raw or text)[:INSPECT_CHARS]):
        try:
            decoded = base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        views.append(re.sub(r"\s+", " ", squeeze(fold(decoded)).text))
    for view in views:
        m = _INJECTION_LOOSE.search(view)
        if m:
            return m.group(0)
    return None


class InjectionStage:
    name = "injection"

    async def check(self, turn: Turn, state: DialogueState) -> Verdict:
        # base64 is decoded from the raw text: it does not survive the normaliser's lower-casing
        found = injection_match(turn.query, turn.text)
        if found is None:
            return _passed(self.name)
        return Verdict(stage=self.name, action=VerdictAction.block, detail=found[:80],
                       reply=_canned("injection", ReplyKind.reject, turn))


def cache_key(prefix: str, tenant_id: str, kb_version: str, query: str) -> str:
    digest = hashlib.sha1(query.encode("utf-8")).hexdigest()
    return f"{prefix}:cache:{tenant_id}:{kb_version}:{digest}"


class AnswerCache:
    """High-frequency answers in Redis, keyed by tenant + KB version + normalised query.

    Only replies a bot marked `cacheable` are stored; publishing a KB version changes the key
    space, so stale answers are never served after an edit.
    """

    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self.redis, self.prefix, self.ttl_s = redis, prefix, ttl_s

    def kb_version_key(self, tenant_id: str) -> str:
        return f"{self.prefix}:kb:version:{tenant_id}"

    def stats_key(self, tenant_id: str) -> str:
        return f"{self.prefix}:cache-stats:{tenant_id}"

    async def lookup(self, turn: Turn) -> Reply | None:
        version = str(await self.redis.get(self.kb_version_key(turn.tenant_id)) or "0")
        key = cache_key(self.prefix, turn.tenant_id, version, turn.query)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.hincrby(self.stats_key(turn.tenant_id), "lookups", 1)
        raw, _ = await pipe.execute()
        if raw is None:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.stats_key(turn.tenant_id), "hits", 1)
        # the top-queries list is shown in analytics: PII masked like every other log of user text
        pipe.zincrby(f"{self.prefix}:cache-top:{turn.tenant_id}", 1, mask_pii(turn.query)[0])
        await pipe.execute()
        reply = Reply.model_validate_json(raw)
        return reply.model_copy(update={"source": reply.source.model_copy(update={"cached": True})})

    async def store(self, turn: Turn, reply: Reply) -> None:
        if not reply.cacheable or reply.failed:
            return
        version = str(await self.redis.get(self.kb_version_key(turn.tenant_id)) or "0")
        await self.redis.set(cache_key(self.prefix, turn.tenant_id, version, turn.query),
                             reply.model_dump_json(), ex=self.ttl_s)


class CacheStage:
    name = "cache"

    def __init__(self, cache: AnswerCache) -> None:
        self.cache = cache

    async def check(self, turn: Turn, state: DialogueState) -> Verdict:
        if state.active_bot or state.handoff:
            return _passed(self.name, "skipped: conversation owned by " + (state.active_bot or "operator"))
        try:
            reply = await self.cache.lookup(turn)
        except RedisError as exc:
            return _passed(self.name, f"skipped: redis unavailable ({type(exc).__name__})")
        if reply is None:
            return _passed(self.name, "miss")
        return Verdict(stage=self.name, action=VerdictAction.hit, detail="hit", reply=reply)


_KEYBOARD_RUNS = ("qwert", "asdf", "zxcv", "hjkl", "uiop", "jkl;", "wasd")
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{6,}")
_REPEAT_CHAR = re.compile(r"(.)\1{5,}")
_MEANINGFUL = re.compile(r"[0-9a-z\u4e00-\u9fff]")


class RejectStage:
    """Gibberish and clearly out-of-scope input get a polite refusal before any bot runs.

    Out-of-scope topics are tenant-configurable regexes (`Tenant.settings["out_of_scope"]`);
    everything else that no bot wants is refused later by the router, with the bots' scores.
    """

    name = "reject"

    def __init__(self, topics_for: TopicLookup) -> None:
        self.topics_for = topics_for

    async def check(self, turn: Turn, state: DialogueState) -> Verdict:
        q = turn.query
        if state.active_bot:
            # A task in progress legitimately receives bare numbers, codes and short answers.
            return _passed(self.name, "skipped: active task")
        if is_gibberish(q):
            return Verdict(stage=self.name, action=VerdictAction.reject, detail="gibberish",
                           reply=_canned("gibberish", ReplyKind.reject, turn))
        for topic, rx in await self.topics_for(turn.tenant_id):
            if rx.search(q):
                return Verdict(stage=self.name, action=VerdictAction.reject, detail=f"out_of_scope:{topic}",
                               reply=_canned("out_of_scope", ReplyKind.reject, turn))
        return _passed(self.name)


class TopicLookup(Protocol):
    async def __call__(self, tenant_id: str) -> list[tuple[str, re.Pattern[str]]]: ...


def is_gibberish(q: str) -> bool:
    """True for input with nothing to answer: no letters, digits or CJK; keyboard mashing."""
    if not _MEANINGFUL.search(q):
        return True
    if _REPEAT_CHAR.search(q) and len(set(q)) <= 2 and not re.search(r"[\u4e00-\u9fff]", q):
        return True
    latin = re.sub(r"[^a-z]", "", q)
    if latin and len(latin) == len(re.sub(r"\s", "", q)):
        if any(run in q for run in _KEYBOARD_RUNS) and len(q) >= 6 and " " not in q:
            return True
        if _CONSONANT_RUN.search(latin):
            return True
    return False
