"""Templates, dialogue acts and the form policy's rules."""

from __future__ import annotations

import pytest

from taskbot.domain import PACKAGED_DOMAINS, load_domain_dir
from taskbot.dst import Frame, SlotFill, recognise_acts
from taskbot.nlg import NLG, render_template
from taskbot.nlu.types import IntentPrediction
from taskbot.policy import FormPolicy

DSET = load_domain_dir(PACKAGED_DOMAINS / "demo")


def test_render_template_paths_labels_and_missing_values() -> None:
    labels = DSET.common.labels
    data = {"order": {"status": "shipped", "items": [{"name": "耳机"}]}, "total": 19.0}
    text = render_template("{order.status|status}/{order.items.0.name}/{total}/{nothing}", data, labels, "zh")
    assert text == "已发货/耳机/19/"
    assert render_template("{order.status|status}", data, labels, "en") == "shipped"
    assert render_template("{t|time}", {"t": "2026-11-04T12:41:00+08:00"}) == "11-04 12:41"


def test_nlg_same_seed_same_variant_and_locale_fallback() -> None:
    nlg = NLG(DSET)
    dom = DSET.domains["cancel_order"]
    a = nlg.render(dom, "cancelled", {"task_title": "取消订单"}, "zh", seed="x")
    assert a == nlg.render(dom, "cancelled", {"task_title": "取消订单"}, "zh", seed="x")
    assert "取消订单" in a
    assert nlg.render(dom, "handoff", {}, "en").startswith("I am transferring")


def frame(domain: str, **slots: str) -> Frame:
    return Frame(domain=domain, slots={k: SlotFill(value=v, turn=1) for k, v in slots.items()})


def test_policy_asks_missing_required_slots_in_order() -> None:
    dom = DSET.domains["invoice"]
    act = FormPolicy().next_action(frame("invoice", order_id="2026110001"), dom)
    assert (act.kind, act.slot) == ("ask", "title")


def test_policy_confirms_side_effects_and_adds_rule_notice_above_500() -> None:
    dom = DSET.domains["return_refund"]
    small = FormPolicy().next_action(frame("return_refund", order_id="1", reason="坏了", amount="99"), dom)
    large = FormPolicy().next_action(frame("return_refund", order_id="1", reason="坏了", amount="600"), dom)
    assert small.kind == "confirm" and small.say == []
    assert large.kind == "confirm" and large.say == ["large_refund"]
    done = frame("return_refund", order_id="1", reason="坏了", amount="99")
    done.confirmed = True
    assert FormPolicy().next_action(done, dom).kind == "execute"


def test_policy_reads_without_confirmation_and_hands_off_after_failures() -> None:
    dom = DSET.domains["logistics"]
    assert FormPolicy().next_action(frame("logistics", order_id="1"), dom).kind == "execute"
    tired = frame("logistics")
    tired.failures = 3
    assert FormPolicy().next_action(tired, dom).kind == "handoff"


@pytest.mark.parametrize(
    ("text", "acts"),
    [
        ("是的", {"affirm"}),
        ("yes please", {"affirm"}),
        ("不是", {"deny"}),
        ("算了", {"cancel"}),
        ("never mind", {"cancel"}),
        ("转人工", {"handoff"}),
        ("重试", {"retry"}),
        ("不对，是另一个订单", {"correction"}),
        ("你们几点下班？", {"question"}),
    ],
)
def test_recognise_acts_zh_en(text: str, acts: set[str]) -> None:
    act = recognise_acts(text, IntentPrediction(intent=None, confidence=0.0), [], DSET, "rules")
    got = {a for a in ("affirm", "deny", "correction", "cancel", "handoff", "retry", "question") if getattr(act, a)}
    assert got == acts
