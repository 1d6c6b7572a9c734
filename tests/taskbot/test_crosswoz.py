"""CrossWOZ state tracking from text, and `csbot dst eval`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from csbot.paths import shared_data_dir
from taskbot.cli import dst_app
from taskbot.crosswoz.evaluate import gold_state, load_dialogues, score, split_of, track
from taskbot.crosswoz.lexicon import DEFAULT_DB_DIR, Lexicon
from taskbot.crosswoz.tracker import CrossWOZTracker, violated_slots

DATA = shared_data_dir() / "crosswoz" / "val.json.zip"
pytestmark = pytest.mark.skipif(not DATA.exists() or not DEFAULT_DB_DIR.exists(), reason="CrossWOZ data not present")


@pytest.fixture(scope="module")
def tracker() -> CrossWOZTracker:
    return CrossWOZTracker(Lexicon.from_dir())


@pytest.fixture(scope="module")
def dialogues() -> dict[str, dict]:  # type: ignore[type-arg]
    return load_dialogues(DATA)


@pytest.mark.parametrize(
    ("user", "domain", "slot", "value"),
    [
        ("你好，我想找家人均消费在100-150元的餐馆吃驴杂汤", "餐馆", "人均消费", "100-150元"),
        ("你好，我想找家人均消费在100-150元的餐馆吃驴杂汤", "餐馆", "推荐菜", "驴杂汤"),
        ("帮我推荐一个评分是4.5分以上的舒适型酒店", "酒店", "评分", "4.5分以上"),
        ("帮我推荐一个评分是4.5分以上的舒适型酒店", "酒店", "酒店类型", "舒适型"),
        ("请给我推荐一个评分5分可以游玩时长1小时-2小时的景点", "景点", "游玩时间", "1小时 - 2小时"),
        ("请给我推荐一个评分5分可以游玩时长1小时-2小时的景点", "景点", "评分", "5分"),
        ("找一个门票免费的景点", "景点", "门票", "免费"),
        ("帮我找一个提供叫醒服务和洗衣服务的酒店", "酒店", "酒店设施", "叫醒服务 洗衣服务"),
        ("我想在故宫周边找个评分4分以上的餐馆", "餐馆", "周边景点", "故宫"),
        ("我要去名叫北京云天酒店的酒店住宿", "酒店", "名称", "北京云天酒店"),
    ],
)
def test_update_fills_slot_from_text(tracker: CrossWOZTracker, user: str, domain: str, slot: str, value: str) -> None:
    state, ctx = tracker.new()
    state = tracker.update(state, ctx, user)
    assert state[domain][slot] == value


def test_update_question_about_a_place_is_not_a_constraint(tracker: CrossWOZTracker) -> None:
    state, ctx = tracker.new()
    state = tracker.update(state, ctx, "这个酒店周边有哪些景点啊？")
    assert all(v == "" for slots in state.values() for v in slots.values())
    state = tracker.update(state, ctx, "北京云天酒店有会议室吗？")
    # the place the user brought up is the one asked about; its facilities are a question, not a wish
    assert state["酒店"]["名称"] == "北京云天酒店"
    assert state["酒店"]["酒店设施"] == ""


def test_update_metro_route_resolves_places_the_system_offered(tracker: CrossWOZTracker) -> None:
    state, ctx = tracker.new()
    tracker.observe_system(state, ctx, "推荐您去故宫游玩。")
    tracker.observe_system(state, ctx, "推荐您去北京云天酒店住宿。")
    state = tracker.update(state, ctx, "我想从景点坐地铁到酒店，应该在哪一站上车？")
    assert state["地铁"] == {"出发地": "故宫", "目的地": "北京云天酒店"}


def test_observe_system_relaxes_a_constraint_the_offer_breaks(tracker: CrossWOZTracker) -> None:
    row = tracker.lexicon.rows["酒店"]["北京贵都大酒店"]
    assert violated_slots("酒店", row, {"评分": "4.5分以上", "价格": "200-300元"}) == ["价格"]
    state, ctx = tracker.new()
    state = tracker.update(state, ctx, "帮我找一家评分4.5分以上，价格200-300元的酒店")
    tracker.observe_system(state, ctx, "抱歉没有符合的，推荐您去价格1354元的北京贵都大酒店。")
    state = tracker.update(state, ctx, "好吧，它的电话是多少？")
    assert state["酒店"]["价格"] == "" and state["酒店"]["评分"] == "4.5分以上"


def test_split_of_is_stable_and_roughly_one_fifth_dev() -> None:
    ids = [str(i) for i in range(2000)]
    dev = [i for i in ids if split_of(i) == "dev"]
    assert [split_of(i) for i in ids[:50]] == [split_of(i) for i in ids[:50]]
    assert 300 < len(dev) < 500


def test_score_perfect_tracker_gets_one(tracker: CrossWOZTracker, dialogues) -> None:  # type: ignore[no-untyped-def]
    three = dict(list(dialogues.items())[:3])
    pairs = track(three, tracker)
    for p in pairs:
        p.predicted = p.gold
    report = score(pairs, 3)
    assert report.joint_accuracy == 1.0 and report.slot_accuracy == 1.0 and report.slot_f1 == 1.0


def test_dst_eval_cli_prints_json_figures(tmp_path: Path, dialogues) -> None:  # type: ignore[no-untyped-def]
    small = {k: dialogues[k] for k in list(dialogues)[:25]}
    path = tmp_path / "small.json.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("small.json", json.dumps(small, ensure_ascii=False))
    result = CliRunner().invoke(dst_app, ["eval", "--crosswoz", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n_dialogues"] == 25
    assert report["n_turns"] == sum(1 for d in small.values() for m in d["messages"] if m["role"] == "sys")
    assert 0.2 < report["joint_accuracy"] <= 1.0
    assert report["slot_accuracy"] > report["joint_accuracy"]
    assert set(report) >= {"n_turns", "joint_accuracy", "slot_accuracy", "slot_f1"}


def test_gold_state_leaves_out_selected_results(dialogues) -> None:  # type: ignore[no-untyped-def]
    d = next(iter(dialogues.values()))
    sys_turn = next(m for m in d["messages"] if m["role"] == "sys")
    g = gold_state(sys_turn["sys_state_init"])
    assert all("selectedResults" not in slots for slots in g.values())
