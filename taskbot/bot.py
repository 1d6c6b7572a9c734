"""TaskBot: multi-turn business tasks (order status, returns, address changes...) for the router.

Per turn: NLU (intent + slots + dialogue acts, in `score`) -> state tracker -> validation and
lookups against the backend -> policy -> action -> NLG. The state lives in `state.bots["task"]`;
while a task is open `state.active_bot` is "task" so the router asks this bot first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from csbot.trace import current
from csbot.types import BotEvent, BotScore, JsonValue, Reply, ReplyKind, Source, Suggestion, Turn
from taskbot.actions import ActionResult, run_action
from taskbot.domain import (
    PACKAGED_DOMAINS,
    DomainLoadError,
    DomainSet,
    TaskDomain,
    domain_files,
    load_domain_dir,
    stamps_changed,
)
from taskbot.dst import FREE_TEXT_TYPES, Frame, SlotFill, StateTracker, TaskState, UserAct, recognise_acts
from taskbot.nlg import NLG, render_template
from taskbot.nlu.rules import RuleIntentClassifier
from taskbot.nlu.slots import extract_slots
from taskbot.nlu.types import IntentClassifier, SlotSpec
from taskbot.policy import FormPolicy, Policy

if TYPE_CHECKING:
    from csbot.context import AppContext
    from csbot.sessions import DialogueState

log = logging.getLogger(__name__)

STATE_KEY = "task"
#: seconds between checks of the domain files' modification times
RELOAD_CHECK_S = 2.0
#: intent confidence needed to open (or switch to) a task
MIN_INTENT = 0.5
EVENT = "task-changed"


@dataclass
class TenantRuntime:
    """A tenant's loaded domains, classifier and backend URL."""

    dset: DomainSet
    classifier: IntentClassifier
    classifier_name: str
    shop_url: str
    specs: list[SlotSpec]
    classifier_checked: float = field(default_factory=time.monotonic)
    #: problems of the last failed reload (the previous domains stay in service)
    errors: list[str] = field(default_factory=list)


class TaskBot:
    """Form-filling task bot over YAML domains; see the module docstring."""

    name = "task"

    def __init__(self) -> None:
        self.ctx: AppContext | None = None
        self.policy: Policy = FormPolicy()
        self.tracker = StateTracker()
        self._tenants: dict[str, TenantRuntime | None] = {}
        self._errors: dict[str, list[str]] = {}
        self._checked: dict[str, float] = {}
        self._forced: set[str] = set()
        self._lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None

    # --- loading ---------------------------------------------------------------------------

    async def load(self, ctx: AppContext) -> None:
        """Cheap: tenants' domains load lazily on their first turn."""
        self.ctx = ctx
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()

    def ready(self) -> dict[str, str]:
        if self.ctx is None:
            return {"taskbot": "not loaded"}
        out = {"taskbot": "ok"}
        for tenant, errs in self._errors.items():
            if errs:
                out[f"taskbot.{tenant}"] = f"last reload failed: {errs[0]}"
        return out

    def invalidate(self, tenant_id: str) -> None:
        """Force a reload on the tenant's next turn (the old domains serve until it succeeds)."""
        self._checked[tenant_id] = 0.0
        self._forced.add(tenant_id)

    async def _listen(self) -> None:
        """Follow `task-changed` events on Redis pub/sub; reconnects if Redis goes away."""
        assert self.ctx is not None
        channel = self.ctx.key("events", EVENT)
        while True:
            try:
                pubsub = self.ctx.redis.pubsub()
                await pubsub.subscribe(channel)
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    try:
                        tenant = json.loads(msg["data"]).get("tenant_id")
                    except (ValueError, AttributeError):
                        tenant = None
                    for t in [tenant] if tenant else list(self._tenants):
                        self.invalidate(t)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarts must not kill the listener
                log.debug("task-changed listener: %s; retrying", exc)
                await asyncio.sleep(1.0)

    async def runtime(self, tenant_id: str) -> TenantRuntime | None:
        """The tenant's domains, reloaded when their files change; a failed reload keeps the old."""
        if tenant_id in self._tenants and time.monotonic() - self._checked.get(tenant_id, 0.0) < RELOAD_CHECK_S:
            return self._tenants[tenant_id]
        async with self._lock:
            return await asyncio.to_thread(self._refresh, tenant_id)

    def _refresh(self, tenant_id: str) -> TenantRuntime | None:
        old = self._tenants.get(tenant_id)
        self._checked[tenant_id] = time.monotonic()
        forced = tenant_id in self._forced
        self._forced.discard(tenant_id)
        if old is not None and not forced and not stamps_changed(old.dset):
            return old
        directory, shop_url = self._tenant_config(tenant_id)
        if directory is None:
            self._tenants[tenant_id] = None
            return None
        try:
            dset = load_domain_dir(directory)
        except DomainLoadError as exc:
            errors = [str(e) for e in exc.errors]
            self._errors[tenant_id] = errors
            log.error("task domains of tenant %s not reloaded:\n%s", tenant_id, exc)
            if old is not None:
                old.errors = errors
                # keep serving the old set; look again when the files change next
                old.dset.stamps = {str(p): p.stat().st_mtime for p in domain_files(directory)}
                return old
            self._tenants[tenant_id] = None
            return None
        classifier, cname = self._classifier(tenant_id, dset)
        rt = TenantRuntime(dset=dset, classifier=classifier, classifier_name=cname, shop_url=shop_url, specs=_specs(dset))
        self._tenants[tenant_id] = rt
        self._errors[tenant_id] = []
        log.info("task domains of tenant %s loaded from %s: %s", tenant_id, directory, sorted(dset.domains))
        return rt

    def _tenant_config(self, tenant_id: str) -> tuple[Path | None, str]:
        """Domain directory and shop URL: tenant settings win over the installation's."""
        assert self.ctx is not None
        from csbot.storage.models import Tenant

        tsettings: dict[str, object] = {}
        try:
            with self.ctx.db.session() as s:
                row = s.get(Tenant, tenant_id)
                if row is not None and row.settings:
                    tsettings = dict(row.settings)
        except Exception as exc:  # a missing table must not stop the bot
            log.warning("tenant settings unavailable: %s", exc)
        shop_url = str(tsettings.get("shop_url") or self.ctx.settings.shop_url or "")
        return resolve_domain_dir(tenant_id, tsettings.get("task_domains"), self.ctx.settings.data_dir), shop_url

    def _refresh_classifier(self, rt: TenantRuntime, tenant_id: str) -> None:
        """Pick up a newly promoted NLU model (the hub loads each version once)."""
        if time.monotonic() - rt.classifier_checked < RELOAD_CHECK_S:
            return
        rt.classifier_checked = time.monotonic()
        rt.classifier, rt.classifier_name = self._classifier(tenant_id, rt.dset)

    def _classifier(self, tenant_id: str, dset: DomainSet) -> tuple[IntentClassifier, str]:
        trained = _trained_classifier(self.ctx, tenant_id)
        if trained is not None:
            return trained, "trained"
        rules = {intent: d.patterns for dom in dset.domains.values() for intent, d in dom.intents.items() if d.patterns}
        return RuleIntentClassifier(rules), "rules"

    # --- scoring ---------------------------------------------------------------------------

    def analyse(self, rt: TenantRuntime, turn: Turn) -> UserAct:
        text = turn.query
        self._refresh_classifier(rt, turn.tenant_id)
        pred = rt.classifier.predict([text])[0]
        slots = extract_slots(text, turn.lang, rt.specs)
        return recognise_acts(text, pred, slots, rt.dset, rt.classifier_name)

    async def score(self, turn: Turn, state: DialogueState) -> BotScore:
        rt = await self.runtime(turn.tenant_id)
        if rt is None or not rt.dset.domains:
            return BotScore(bot=self.name, score=0.0, reason="no task domains for this tenant")
        act = await asyncio.to_thread(self.analyse, rt, turn)
        ts = load_task_state(state)
        value, reason = _score(act, ts, rt.dset)
        current().add(BotEvent(bot=self.name, step="nlu", detail=reason, data={**act.as_trace(), "score": value}))
        return BotScore(bot=self.name, score=value, reason=reason, hint=act)

    # --- replying --------------------------------------------------------------------------

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        rt = await self.runtime(turn.tenant_id)
        if rt is None:
            return Reply(text="", kind=ReplyKind.reject, source=Source(bot=self.name), failed=True)
        act = hint if isinstance(hint, UserAct) else await asyncio.to_thread(self.analyse, rt, turn)
        ts = load_task_state(state)
        # a reload may have removed a task the conversation was in
        ts.stack = [f for f in ts.stack if f.domain in rt.dset.domains]
        lang = turn_lang(turn, ts)
        ts.lang = lang
        out = _Out(lang, NLG(rt.dset), seed=turn.turn_id)
        try:
            await self._step(rt, ts, act, turn, state, out)
        finally:
            ts.last_turn = state.turns
            state.bots[STATE_KEY] = ts.model_dump(mode="json")
            if ts.stack:
                state.active_bot = self.name
            elif state.active_bot == self.name:
                state.active_bot = None
        top = ts.active
        current().add(
            BotEvent(
                bot=self.name,
                step="dst",
                detail=out.kind.value,
                data=cast(dict[str, JsonValue], {"stack": [f.domain for f in ts.stack], "slots": top.values() if top else {}, "failures": top.failures if top else 0}),
            )
        )
        return Reply(
            text=out.text(),
            kind=out.kind,
            source=Source(bot=self.name, task=out.task),
            confidence=out.confidence,
            suggestions=[Suggestion(text=s) for s in out.suggestions],
            cacheable=False,
            failed=out.failed,
        )

    async def _step(self, rt: TenantRuntime, ts: TaskState, act: UserAct, turn: Turn, state: DialogueState, out: _Out) -> None:
        dset = rt.dset
        frame = ts.active
        interrupted = frame is not None and ts.last_turn is not None and state.turns - ts.last_turn > 1
        out.confidence = 0.9
        if act.handoff and (frame is not None or act.domain is None):
            out.task = frame.domain if frame else None
            ts.stack.clear()
            out.say(None, "handoff", {})
            out.kind = ReplyKind.handoff
            return
        if frame is not None and act.cancel and not (act.domain and act.domain != frame.domain):
            dom = dset.domains[frame.domain]
            ts.stack.pop()
            out.task = dom.domain
            out.say(dom, "cancelled", {"task_title": _title(dom, out.lang)})
            out.kind = ReplyKind.answer
            if ts.active:
                await self._continue(rt, ts, turn, state, out, resumed=True)
            return
        retrying = frame is not None and frame.pending == "retry" and (act.retry or act.affirm)
        if retrying:
            assert frame is not None
            frame.pending = None
        upd = self.tracker.update(ts, act, dset, state.turns, MIN_INTENT)
        frame = ts.active
        if frame is None:
            shared = self._remember_shared(ts, act, dset, state.turns)
            if shared and out.nlg.has(None, "which_task"):
                # an order number without a wish: keep it for the task the user picks next
                out.say(None, "which_task", shared)
                out.suggestions = [_title(d, out.lang) for d in dset.domains.values()]
                out.kind = ReplyKind.suggestions
                return
            out.say(None, "nothing_to_cancel", {})
            out.kind = ReplyKind.answer
            out.failed = True
            return
        dom = dset.domains[frame.domain]
        out.task = out.task or dom.domain
        current().add(
            BotEvent(
                bot=self.name,
                step="dst.update",
                data=cast(dict[str, JsonValue], {"pushed": upd.pushed, "resumed": upd.resumed, "filled": upd.filled, "corrected": upd.corrected, "carried": upd.carried}),
            )
        )
        if upd.resumed:
            out.say(dom, "resume", {"task_title": _title(dom, out.lang)})
        changed = bool(upd.filled or upd.pushed or upd.resumed)
        if frame.pending == "confirm" and not changed:
            if act.affirm:
                frame.confirmed = True
                frame.pending = None
            elif act.deny or act.correction:
                frame.pending = None
                out.say(dom, "deny_at_confirm", {})
                out.kind = ReplyKind.task_prompt
                return
        elif frame.pending == "confirm":
            frame.pending = None
        # an answer that fills nothing while a slot is asked for: say why it does not fit
        if not changed and not retrying and frame.requested and frame.pending is None and not act.affirm:
            self._reject_value(frame, dom, act.text.strip(), out)
        elif interrupted and not upd.filled and not upd.pushed and not upd.resumed:
            out.say(dom, "resume", {"task_title": _title(dom, out.lang)})
        for name in upd.filled:
            if name in frame.slots:
                self._check_format(ts, frame, dom, name, out)
        if not await self._lookups(rt, ts, frame, dom, out):
            return
        if any(name in frame.slots for name in upd.filled):
            frame.failures = 0  # progress: only consecutive failures count towards a handoff
        await self._continue(rt, ts, turn, state, out, resumed=False)

    async def _continue(self, rt: TenantRuntime, ts: TaskState, turn: Turn, state: DialogueState, out: _Out, resumed: bool) -> None:
        """Run the policy on the top frame until the turn needs the user again."""
        for _ in range(len(ts.stack) + 2):
            frame = ts.active
            if frame is None:
                return
            dom = rt.dset.domains[frame.domain]
            out.task = out.task or dom.domain
            if resumed:
                out.say(dom, "resume", {"task_title": _title(dom, out.lang)})
                resumed = False
                if not await self._lookups(rt, ts, frame, dom, out):
                    return
            _apply_defaults(frame, dom, state.turns)
            action = self.policy.next_action(frame, dom)
            current().add(BotEvent(bot=self.name, step="policy", detail=action.kind, data={"slot": action.slot, "say": list(action.say), "reason": action.reason}))
            if action.kind == "handoff":
                ts.stack.clear()
                out.say(dom, "handoff_failures", {})
                out.kind = ReplyKind.handoff
                return
            if action.kind == "ask":
                assert action.slot is not None
                frame.requested = action.slot
                out.say(dom, None, _vars(frame), prompt=dom.slots[action.slot].prompt)
                out.kind = ReplyKind.task_prompt
                return
            if action.kind == "confirm":
                frame.pending = "confirm"
                frame.requested = None
                out.say(dom, "confirm", _vars(frame))
                for name in action.say:
                    out.say(dom, name, _vars(frame))
                out.say(dom, "confirm_suffix", {})
                out.suggest(dom, "suggest_yes", "suggest_cancel")
                out.kind = ReplyKind.task_prompt
                return
            # execute
            frame.requested = None
            if not await self._execute(rt, ts, frame, dom, out):
                return
            if not ts.stack:
                return
            resumed = True
        log.warning("policy loop did not settle for %s", [f.domain for f in ts.stack])

    async def _execute(self, rt: TenantRuntime, ts: TaskState, frame: Frame, dom: TaskDomain, out: _Out) -> bool:
        """Run the domain's action; True when the frame is finished (done or refused)."""
        if dom.action is None:
            ts.stack.pop()
            out.say(dom, "done", _vars(frame))
            out.kind = ReplyKind.answer
            return True
        spec = dom.actions[dom.action]
        res = await run_action(spec, rt.shop_url, _vars(frame))
        _trace_action(dom.action, spec.method, res)
        if res.timeout or res.status is None or res.status >= 500:
            frame.pending = "retry"
            frame.failures += 1
            out.say(dom, "timeout" if res.timeout or res.status is None else "backend_error", {"status": res.status})
            out.suggest(dom, "suggest_retry", "suggest_handoff")
            out.kind = ReplyKind.task_prompt
            out.failed = True
            return False
        variables = {**_vars(frame), **res.variables(spec)}
        if res.ok:
            ts.stack.pop()
            out.say(dom, "done", variables)
            out.kind = ReplyKind.answer
            return True
        name = spec.errors.get(res.status, "backend_error")
        ts.stack.pop()
        out.say(dom, name, {**variables, "status": res.status})
        out.kind = ReplyKind.answer
        return True

    def _remember_shared(self, ts: TaskState, act: UserAct, dset: DomainSet, turn_no: int) -> dict[str, object]:
        shared_names = {n for d in dset.domains.values() for n, sl in d.slots.items() if sl.shared}
        found: dict[str, object] = {}
        for sv in act.slots:
            if sv.name in shared_names:
                ts.shared[sv.name] = SlotFill(value=sv.value, turn=turn_no, raw=sv.raw)
                found[sv.name] = sv.value
        return found

    def _invalid(self, ts: TaskState, frame: Frame, dom: TaskDomain, name: str, value: str, out: _Out, lookup: bool = False) -> None:
        slot = dom.slots[name]
        frame.slots.pop(name, None)
        if name in ts.shared and ts.shared[name].value == value:
            ts.shared.pop(name)
        frame.failures += 1
        frame.requested = name
        check = slot.validation
        texts = (check.lookup_message if lookup and check and check.lookup_message else None) or (check.message if check else None)
        variables = {**_vars(frame), "value": value, "slot_label": slot.label.get(out.lang, name)}  # type: ignore[call-overload]
        if texts:
            out.say(dom, None, variables, prompt=texts)
        else:
            out.say(dom, "invalid", variables)
        current().add(BotEvent(bot=self.name, step="dst.invalid", detail=name, data={"value": value, "failures": frame.failures}))

    def _reject_value(self, frame: Frame, dom: TaskDomain, text: str, out: _Out) -> None:
        name = frame.requested
        assert name is not None
        slot = dom.slots[name]
        frame.failures += 1
        check = slot.validation
        variables = {**_vars(frame), "value": text, "slot_label": slot.label.get(out.lang, name)}  # type: ignore[call-overload]
        if check and check.message:
            out.say(dom, None, variables, prompt=check.message)
        else:
            out.say(dom, "invalid", variables)
        current().add(BotEvent(bot=self.name, step="dst.invalid", detail=name, data={"value": text, "failures": frame.failures}))

    def _check_format(self, ts: TaskState, frame: Frame, dom: TaskDomain, name: str, out: _Out) -> bool:
        check = dom.slots[name].validation
        value = frame.slots[name].value
        if check is None:
            return True
        ok = True
        if check.regex and not re.search(check.regex, value):
            ok = False
        if ok and (check.min is not None or check.max is not None):
            try:
                num = float(value)
                ok = (check.min is None or num >= check.min) and (check.max is None or num <= check.max)
            except ValueError:
                ok = False
        if not ok:
            self._invalid(ts, frame, dom, name, value, out)
        return ok

    async def _lookups(self, rt: TenantRuntime, ts: TaskState, frame: Frame, dom: TaskDomain, out: _Out) -> bool:
        """Check filled values against the backend (does the order exist?); False ends the turn."""
        for name, slot in dom.slots.items():
            check = slot.validation
            if check is None or check.lookup is None or name not in frame.slots:
                continue
            store = check.store_as or check.lookup
            if store in frame.vars:
                continue
            spec = dom.actions[check.lookup]
            value = frame.slots[name].value
            res = await run_action(spec, rt.shop_url, _vars(frame))
            _trace_action(check.lookup, spec.method, res)
            if res.ok:
                frame.vars[store] = _jsonable(res.data)
                continue
            if res.timeout or res.status is None or res.status >= 500:
                frame.pending = "retry"
                frame.failures += 1
                out.say(dom, "timeout", {"status": res.status})
                out.suggest(dom, "suggest_retry", "suggest_handoff")
                out.kind = ReplyKind.task_prompt
                out.failed = True
                return False
            self._invalid(ts, frame, dom, name, value, out, lookup=True)
        return True


# --- helpers ---------------------------------------------------------------------------------------


class _Out:
    """The reply under construction: text parts, kind, suggestions."""

    def __init__(self, lang: str, nlg: NLG, seed: str) -> None:
        self.lang = lang
        self.nlg = nlg
        self.seed = seed
        self.parts: list[str] = []
        self.kind = ReplyKind.task_prompt
        self.task: str | None = None
        self.suggestions: list[str] = []
        self.failed = False
        self.confidence = 0.0

    def say(self, dom: TaskDomain | None, name: str | None, variables: dict[str, object], prompt: dict[str, list[str]] | None = None) -> None:
        if prompt is not None:
            variants = prompt.get(self.lang) or prompt.get("zh") or next(iter(prompt.values()), [""])
            template = variants[hash(self.seed) % len(variants)] if len(variants) > 1 else variants[0]
            labels = {**self.nlg.dset.common.labels, **(dom.labels if dom else {})}
            text = render_template(template, variables, labels, self.lang)
        else:
            assert name is not None
            text = self.nlg.render(dom, name, variables, self.lang, seed=self.seed)
        if text:
            self.parts.append(text)

    def suggest(self, dom: TaskDomain | None, *names: str) -> None:
        for name in names:
            text = self.nlg.render(dom, name, {}, self.lang)
            if text and text not in self.suggestions:
                self.suggestions.append(text)

    def text(self) -> str:
        sep = "" if self.lang == "zh" else " "
        return sep.join(p.strip() if self.lang == "zh" else p.strip() for p in self.parts)


def turn_lang(turn: Turn, ts: TaskState) -> str:
    """The turn's language; a bare number or email keeps the language the task was started in."""
    if turn.locale:
        return turn.lang
    if not ts.lang:
        letters = re.sub(r"\S+@\S+", "", turn.text)
        # nothing to tell the language by (a bare order number): Chinese first
        return turn.lang if any(ch.isalpha() for ch in letters) else "zh"
    if ts.lang == "zh":
        words = re.sub(r"\S+@\S+", "", turn.text).split()
        return "en" if len(words) >= 3 and turn.lang == "en" else "zh"
    return turn.lang


def load_task_state(state: DialogueState) -> TaskState:
    """The task state; open frames are dropped when the conversation no longer belongs to this bot
    (a handoff to a person cleared `active_bot`), keeping only values shared across tasks."""
    raw = state.bots.get(STATE_KEY)
    ts = TaskState()
    if isinstance(raw, dict):
        try:
            ts = TaskState.model_validate(raw)
        except ValueError:
            log.warning("discarding unreadable task state of %s", state.session_id)
    if ts.stack and state.active_bot != STATE_KEY:
        ts.stack.clear()
    return ts


def resolve_domain_dir(tenant_id: str, setting: object, data_dir: Path) -> Path | None:
    """Where a tenant's domain files are: its `task_domains` setting (a path or a packaged set name),
    else `<data_dir>/tasks/<tenant>`, else a packaged set named like the tenant (`demo`)."""
    if isinstance(setting, str) and setting:
        path = Path(setting)
        if path.is_dir():
            return path
        packaged = PACKAGED_DOMAINS / setting
        if packaged.is_dir():
            return packaged
        log.warning("tenant %s: task_domains %r is not a directory", tenant_id, setting)
    own = data_dir / "tasks" / tenant_id
    if own.is_dir():
        return own
    packaged = PACKAGED_DOMAINS / tenant_id
    return packaged if packaged.is_dir() else None


def _trained_classifier(ctx: AppContext | None, tenant_id: str) -> IntentClassifier | None:
    """The tenant's serving NLU model, when the NLU package has registered one."""
    if ctx is None:
        return None
    from taskbot.nlu.registry import load_serving

    try:
        return load_serving(ctx, tenant_id)
    except Exception as exc:
        log.warning("trained NLU of tenant %s not loaded, using rules: %s", tenant_id, exc)
        return None


def _specs(dset: DomainSet) -> list[SlotSpec]:
    seen: dict[str, SlotSpec] = {}
    for dom in dset.domains.values():
        for spec in dom.slot_specs():
            if spec.type in FREE_TEXT_TYPES and spec.type != "address":
                continue
            seen.setdefault(spec.name, spec)
    return list(seen.values())


def _score(act: UserAct, ts: TaskState, dset: DomainSet) -> tuple[float, str]:
    """Calibrated to the router's shared scale (>= 0.7 mine, 0.4-0.7 maybe, < 0.3 not mine)."""
    frame = ts.active
    if frame is None:
        if act.domain is None or act.intent_confidence < MIN_INTENT:
            shared = {n for d in dset.domains.values() for n, sl in d.slots.items() if sl.shared}
            if any(s.name in shared for s in act.slots) and not act.question:
                return 0.5, "a value (order number) without a task: ask which task"
            return 0.05, "no task intent"
        if act.question and not act.slots:
            return round(min(0.65, act.intent_confidence), 3), f"task intent {act.intent} asked as a question"
        return round(min(0.9, act.intent_confidence), 3), f"task intent {act.intent}"
    dom = dset.domains.get(frame.domain)
    if dom is None:
        return 0.0, "active task domain no longer exists"
    if act.cancel or act.handoff:
        return 0.95, "cancel / handoff during a task"
    if frame.pending == "confirm" and (act.affirm or act.deny or act.correction):
        return 0.95, "answer to a confirmation"
    if frame.pending == "retry" and (act.retry or act.affirm):
        return 0.95, "retry request"
    if any(s.name in dom.slots for s in act.slots):
        return 0.9, "slot value for the active task"
    if act.domain and act.intent_confidence >= MIN_INTENT and act.domain != frame.domain:
        req = frame.requested
        if not (req and dom.slots[req].type in FREE_TEXT_TYPES and not act.question):
            return 0.85, f"another task intent {act.intent}"
    if act.question and not act.correction:
        return 0.25, "a question during a task: left to other bots, the task is kept"
    req = frame.requested
    if req and dom.slots[req].type in FREE_TEXT_TYPES:
        return 0.8, f"free-text answer for {req}"
    if req:
        return 0.6, f"an attempt at {req}"
    if act.affirm or act.deny:
        return 0.6, "acknowledgement during a task"
    return 0.3, "nothing for the task"


def _title(dom: TaskDomain, lang: str) -> str:
    return dom.title.get(lang) or dom.title.get("zh") or dom.domain  # type: ignore[call-overload]


def _vars(frame: Frame) -> dict[str, object]:
    return {**frame.vars, **frame.values()}


def _apply_defaults(frame: Frame, dom: TaskDomain, turn_no: int) -> None:
    if any(n not in frame.slots for n in dom.form.required):
        return
    for name in dom.form.optional:
        default = dom.slots[name].default
        if name not in frame.slots and default:
            value = render_template(default, _vars(frame))
            if value:
                frame.slots[name] = SlotFill(value=value, turn=turn_no, raw="default")


def _jsonable(data: dict[str, object]) -> JsonValue:
    return json.loads(json.dumps(data, default=str))


def _trace_action(name: str, method: str, res: ActionResult) -> None:
    current().add(
        BotEvent(
            bot="task",
            step="action",
            detail=name,
            data={"method": method, "status": res.status, "ok": res.ok, "timeout": res.timeout, "attempts": res.attempts, "ms": res.ms, "error": res.error},
        )
    )
