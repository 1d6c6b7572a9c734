"""The bundled demo tenant's data: formats, and the properties the bots rely on."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from csbot.demo import loader

CJK = re.compile(r"[\u4e00-\u9fff]")
CATEGORIES = {
    "shipping",
    "returns",
    "payment",
    "invoices",
    "accounts",
    "promotions",
    "after-sales",
    "membership",
    "products",
}
# personal data an answer must never carry: mobile numbers, e-mail addresses, ID-card numbers
PERSONAL = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)|[\w.+-]+@[\w-]+\.[\w.]+|(?<!\d)\d{17}[\dXx](?!\d)")


def _key(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", loader.render_answer(text).lower())


@pytest.fixture(scope="module")
def faq() -> list[loader.FaqItemIn]:
    return loader.load_faq()


def test_faq_size_and_languages(faq: list[loader.FaqItemIn]) -> None:
    langs = Counter(item.lang for item in faq)
    assert len(faq) >= 170 and langs["zh"] >= 115 and langs["en"] >= 45
    assert {item.category for item in faq} == CATEGORIES
    for item in faq:
        assert bool(CJK.search(item.question)) == (item.lang == "zh"), item.id
        assert bool(CJK.search(item.answer)) == (item.lang == "zh"), item.id


def test_faq_ids_unique_and_fields_filled(faq: list[loader.FaqItemIn]) -> None:
    ids = [item.id for item in faq]
    assert len(set(ids)) == len(ids)
    for item in faq:
        assert item.question.strip() and item.answer.strip()
        assert len(item.similar) >= 4, item.id
        assert all(s.strip() for s in item.similar), item.id


def test_faq_no_question_belongs_to_two_items(faq: list[loader.FaqItemIn]) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for item in faq:
        for text in [item.question, *item.similar]:
            owners[_key(text)].add(item.id)
    shared = {text: ids for text, ids in owners.items() if len(ids) > 1}
    assert shared == {}
    assert all(len(set(map(_key, item.similar))) == len(item.similar) for item in faq)


def test_faq_answers_carry_no_personal_data(faq: list[loader.FaqItemIn]) -> None:
    leaks = {item.id: PERSONAL.findall(item.answer) for item in faq if PERSONAL.search(item.answer)}
    assert leaks == {}


def test_faq_answers_only_use_the_shop_name_variable(faq: list[loader.FaqItemIn]) -> None:
    for item in faq:
        assert set(re.findall(r"\{(\w*)\}", item.answer + item.question)) <= {"shop_name"}, item.id
        assert "{" not in loader.render_answer(item.answer)


def test_faq_eval_is_held_back_and_labelled(faq: list[loader.FaqItemIn]) -> None:
    queries = loader.load_faq_eval()
    known = {_key(t) for item in faq for t in [item.question, *item.similar]}
    ids = {item.id for item in faq}
    answerable = [q for q in queries if q.expected is not None]
    rejected = [q for q in queries if q.expected is None]
    assert len(answerable) >= 75 and len(rejected) >= 25
    assert all(q.expected in ids for q in answerable)
    assert [q.query for q in queries if _key(q.query) in known] == []
    for group in (answerable, rejected):
        assert {"zh", "en"} == {"zh" if CJK.search(q.query) else "en" for q in group}


def test_products_have_core_facts_and_aliases_resolve() -> None:
    triples = loader.load_triples()
    facts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for t in triples:
        facts[t.subject][t.relation].append(t.object)
    assert len(facts) >= 55
    for name, rel in facts.items():
        for key in ("SKU", "品牌", "类别", "价格", "保修期", "颜色"):
            assert rel[key], f"{name} lacks {key}"
        assert len(rel["价格"]) == 1 and re.fullmatch(r"\d+元", rel["价格"][0]), name
        for flag in ("支持降噪", "支持快充"):
            assert set(rel.get(flag, [])) <= {"是", "否"}, name
    skus = [rel["SKU"][0] for rel in facts.values()]
    assert len(set(skus)) == len(skus)
    # compatibility and accessories name products of the graph or generic device kinds
    assert any(o in facts for rel in facts.values() for o in rel.get("兼容", []))
    aliases = loader.load_product_aliases()
    assert {a.entity for a in aliases} <= facts.keys()
    assert len({a.entity for a in aliases}) == len(facts)
    lowered = Counter(a.alias.lower() for a in aliases)
    assert [a for a, n in lowered.items() if n > 1] == []


def test_chitchat_patterns_cover_both_languages() -> None:
    patterns = loader.load_chitchat_patterns()
    assert len(patterns) >= 40
    names_by_lang = {lang: {p.name for p in patterns if p.lang == lang} for lang in ("zh", "en")}
    for name in ("greeting", "thanks", "goodbye", "are_you_robot", "insult", "compliment", "who_are_you"):
        assert name in names_by_lang["zh"] and name in names_by_lang["en"], name


def _match(text: str) -> str | None:
    for pattern in loader.load_chitchat_patterns():
        if any(re.search(rx, text, re.IGNORECASE) for rx in pattern.patterns):
            return pattern.name
    return None


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("你好", "greeting"),
        ("您好！", "greeting"),
        ("hello", "greeting"),
        ("谢谢小智", "thanks"),
        ("thank you so much!", "thanks"),
        ("拜拜", "goodbye"),
        ("你是机器人吗", "are_you_robot"),
        ("are you a bot?", "are_you_robot"),
        ("你真笨", "insult"),
        ("哈哈哈哈", "laughter"),
        ("在吗", "waiting"),
        ("what can you do?", "what_can_you_do"),
        # business questions that open with a greeting or thanks belong to the other bots
        ("你好，我的快递到哪了", None),
        ("hi, where is my order", None),
        ("谢谢，退款多久到账", None),
        ("转人工", None),
        ("how do i track my order", None),
    ],
)
def test_chitchat_pattern_matching(text: str, name: str | None) -> None:
    assert _match(text) == name


def test_chitchat_pairs_unique_and_mostly_chinese() -> None:
    pairs = loader.load_chitchat_pairs()
    assert len(pairs) >= 150
    assert sum(p.lang == "zh" for p in pairs) > len(pairs) / 2
    messages = [p.message for p in pairs]
    assert len(set(messages)) == len(messages)


def test_sensitive_words_cover_required_cases() -> None:
    words = {w.term: w for w in loader.load_sensitive_words()}
    assert words["自杀"].action == "escalate" and words["自杀"].category == "self-harm"
    assert words["刷单"].category == "fraud" and words["套现"].category == "fraud"
    assert {w.category for w in words.values()} >= {"abuse", "politics", "fraud", "competitor", "self-harm"}


def test_sensitive_words_do_not_hit_demo_content(faq: list[loader.FaqItemIn]) -> None:
    """A lexicon that blocks the shop's own FAQ or chitchat would break the demo."""
    terms = [w.term.lower() for w in loader.load_sensitive_words()]
    texts = [t for item in faq for t in (item.question, *item.similar, item.answer)]
    texts += [p.message for p in loader.load_chitchat_pairs()] + [
        p.reply for p in loader.load_chitchat_pairs()
    ]
    texts += [r for p in loader.load_chitchat_patterns() for r in p.replies]
    hits = [(term, text) for text in texts for term in terms if term in loader.render_answer(text).lower()]
    assert hits == []


@pytest.mark.parametrize(
    "text",
    [
        "你们卖的是不是高仿",
        "开的发票是假的吗",
        "想死你了小智",
        "买给妈妈的生日礼物",
        "is this a fake product",
        "支付宝付款失败",
    ],
)
def test_sensitive_words_spare_ordinary_customer_phrasing(text: str) -> None:
    assert [w.term for w in loader.load_sensitive_words() if w.term.lower() in text.lower()] == []


def test_synonyms_map_terms_to_canonical_forms_without_chains() -> None:
    synonyms = loader.load_synonyms()
    assert len(synonyms) >= 60
    terms = [s.term for s in synonyms]
    assert len(set(terms)) == len(terms)
    canonicals = {s.canonical for s in synonyms}
    assert all(s.term != s.canonical for s in synonyms)
    assert set(terms) & canonicals == set()
    assert {("快递", "物流"), ("退钱", "退款"), ("开票", "发票"), ("免运费", "包邮")} <= {
        (s.term, s.canonical) for s in synonyms
    }


def test_dictionary_segments_product_names_with_jieba() -> None:
    import jieba

    entries = loader.load_dictionary()
    words = {word for word, _ in entries}
    names = {t.subject for t in loader.load_triples()}
    assert {re.sub(r"\s+", "", n).lower() for n in names} <= words
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(loader.demo_path("dictionary.txt")))
    assert "小智x1pro手机" in tokenizer.lcut("小智x1pro手机多少钱")
    assert "快递柜" in tokenizer.lcut("我的快递被放到快递柜了")


def test_demo_path_rejects_unknown_files() -> None:
    with pytest.raises(FileNotFoundError):
        loader.demo_path("nope.csv")
