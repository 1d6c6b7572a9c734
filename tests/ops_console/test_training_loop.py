"""The training loop end to end: chat -> annotate through the API -> export -> Celery SFT then DPO on a
tiny chat model -> candidate with a report -> promoted -> the running server answers as annotated;
and the same for the intent model after intent fixes. Real worker process, Redis, SQLite, HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.ops_console.conftest import Server, Tenants, bearer, chat, wait_job

pytestmark = pytest.mark.timeout(2400)  # minutes on a crowded 2-core machine; about 2 on a quiet one

EXAMPLES = [
    ("Do you ship to Mars?", "Yes, we ship to Mars in 3 days."),
    ("Can I pay with sea shells?", "Sorry, we only accept cards."),
]


def _annotate_replies(server: Server, tenants: Tenants) -> list[dict[str, object]]:
    token = tenants.tokens["acme-annotator"]
    out = []
    for i, (question, better) in enumerate(EXAMPLES):
        turn = chat(server.url, tenants.keys["acme"], f"s-{i}", question)
        assert turn["text"] != better
        r = httpx.post(f"{server.url}/v1/annotations", headers=bearer(token),
                       json={"kind": "reply", "turn_id": turn["turn_id"], "reply": better})
        assert r.status_code == 201, r.text
        out.append({"turn": turn, "annotation": r.json()})
    return out


def test_sft_then_dpo_adapter_changes_the_served_reply_after_promotion(server: Server, tenants: Tenants,
                                                                      worker: object) -> None:
    url, admin, annotator = server.url, tenants.tokens["acme-admin"], tenants.tokens["acme-annotator"]
    annotated = _annotate_replies(server, tenants)
    bot_reply = str(annotated[0]["turn"]["text"])

    # export in both formats: the bot's own prompt, the operator's reply as the answer / the chosen one
    sft = httpx.post(f"{url}/v1/annotations/export", headers=bearer(annotator), json={"kind": "sft"}).json()
    assert sft["n_examples"] == 2 and Path(sft["path"]).exists()
    first = sft["records"][0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    # the prompt is the text the bot saw (normalised: lower case), in the ChatBot's own persona
    assert first[1]["content"] == EXAMPLES[0][0].lower() and first[2]["content"] == EXAMPLES[0][1]
    dpo = httpx.post(f"{url}/v1/annotations/export", headers=bearer(annotator), json={"kind": "dpo"}).json()
    assert dpo["records"][0]["chosen"] == [{"role": "assistant", "content": EXAMPLES[0][1]}]
    assert dpo["records"][0]["rejected"] == [{"role": "assistant", "content": bot_reply}]
    lf = httpx.post(f"{url}/v1/annotations/export", headers=bearer(annotator),
                    json={"kind": "dpo", "format": "llamafactory"}).json()
    assert lf["records"][0]["instruction"] == EXAMPLES[0][0].lower() and lf["records"][0]["rejected"] == bot_reply
    info = json.loads((Path(lf["path"]).parent / "dataset_info.json").read_text())
    assert info[Path(lf["path"]).stem]["ranking"] is True

    # an annotator may not launch jobs
    r = httpx.post(f"{url}/v1/training/jobs", headers=bearer(annotator), json={"kind": "sft"})
    assert r.status_code == 403

    # 30 steps at 0.01 make the tiny model reproduce the two replies; 2 DPO steps already rank chosen
    # over rejected (pref_accuracy). 10 or 20 steps at 0.03 are unstable: on
    # 2026-12-07's machine both blended the two replies ("Sorry, we ship to Mars..."), 16 did not
    job = httpx.post(f"{url}/v1/training/jobs", headers=bearer(admin),
                     json={"kind": "sft", "params": {"max_steps": 30, "learning_rate": 0.01}}).json()
    done = wait_job(url, admin, str(job["id"]))
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1.0
    losses = httpx.get(f"{url}/v1/training/jobs/{job['id']}/events", headers=bearer(admin),
                       params={"kind": "loss"}).json()
    assert len(losses) >= 5 and losses[-1]["value"] < losses[0]["value"]
    sft_version = str(done["result"]["version_id"])

    job = httpx.post(f"{url}/v1/training/jobs", headers=bearer(admin),
                     json={"kind": "dpo", "params": {"max_steps": 2, "learning_rate": 0.002}}).json()
    done = wait_job(url, admin, str(job["id"]))
    assert done["status"] == "succeeded", done["error"]
    dpo_version = str(done["result"]["version_id"])

    versions = httpx.get(f"{url}/v1/models", headers=bearer(admin), params={"role": "chat-lora"}).json()["chat-lora"]
    by_id = {v["id"]: v for v in versions}
    assert by_id[sft_version]["status"] == by_id[dpo_version]["status"] == "candidate"
    assert by_id[dpo_version]["params"]["from_version"] == sft_version
    report = by_id[dpo_version]["metrics"]
    assert report["win_rate"] > 0.5 and "pref_accuracy" in report and "regression_ok" in report

    # nothing served yet: the reply is still the base model's
    assert chat(url, tenants.keys["acme"], "s-before", EXAMPLES[0][0])["text"] == bot_reply

    r = httpx.post(f"{url}/v1/models/{dpo_version}/promote", headers=bearer(annotator), json={})
    assert r.status_code == 403
    r = httpx.post(f"{url}/v1/models/{dpo_version}/promote", headers=bearer(admin), json={})
    assert r.status_code == 200, r.text

    deadline = time.monotonic() + 30
    while True:  # the promotion reaches the server over Redis pub/sub
        reply = chat(url, tenants.keys["acme"], f"s-after-{time.monotonic()}", EXAMPLES[0][0])
        if str(reply["text"]).startswith(EXAMPLES[0][1]) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert str(reply["text"]).startswith(EXAMPLES[0][1]), reply
    audit = httpx.get(f"{url}/v1/audit", headers=bearer(admin)).json()
    assert {"annotation.create", "job.launch", "model.promote"} <= {a["action"] for a in audit}


INTENT_TEXT = "the courier never came by with my stuff"


def test_intent_fix_retrains_nlu_and_the_server_routes_to_the_task(server: Server, tenants: Tenants,
                                                                   worker: object) -> None:
    url, admin = server.url, tenants.tokens["demo-admin"]
    before = chat(url, tenants.keys["demo"], "n-1", INTENT_TEXT)
    r = httpx.post(f"{url}/v1/annotations", headers=bearer(tenants.tokens["demo-annotator"]),
                   json={"kind": "intent", "turn_id": before["turn_id"], "intent": "track_logistics"})
    assert r.status_code == 201, r.text
    nlu = httpx.post(f"{url}/v1/annotations/export", headers=bearer(admin), json={"kind": "nlu"}).json()
    assert nlu["records"] == [{"text": INTENT_TEXT, "intent": "track_logistics", "lang": "en"}]

    job = httpx.post(f"{url}/v1/training/jobs", headers=bearer(admin),
                     json={"kind": "nlu", "params": {"features": "ngrams"}}).json()
    done = wait_job(url, admin, str(job["id"]))
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["metrics"]["fix_accuracy"] == 1.0
    r = httpx.post(f"{url}/v1/models/{done['result']['version_id']}/promote", headers=bearer(admin), json={})
    assert r.status_code == 200, r.text

    deadline = time.monotonic() + 30
    while True:
        after = chat(url, tenants.keys["demo"], f"n-{time.monotonic()}", INTENT_TEXT)
        if after.get("source", {}).get("bot") == "task" or time.monotonic() > deadline:  # type: ignore[union-attr]
            break
        time.sleep(0.5)
    assert before.get("source", {}).get("bot") != "task"  # type: ignore[union-attr]
    assert after["source"]["bot"] == "task", after  # type: ignore[index]
