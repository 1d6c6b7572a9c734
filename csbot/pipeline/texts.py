"""The spine's own canned replies, per language."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "blocked": {
        "zh": "抱歉，您的消息包含不适当的内容，我无法回复。请换一种说法，或输入“人工”联系客服。",
        "en": "Sorry, your message contains content I can't respond to. Please rephrase, or type 'agent' to reach a person.",
    },
    "injection": {
        "zh": "抱歉，我只能回答与本店商品、订单和服务相关的问题。",
        "en": "Sorry, I can only help with questions about our products, orders and services.",
    },
    "gibberish": {
        "zh": "抱歉，我没有看懂您的意思，可以换个说法再描述一下吗？",
        "en": "Sorry, I didn't catch that. Could you say it another way?",
    },
    "out_of_scope": {
        "zh": "抱歉，这个问题超出了我的服务范围。我可以帮您查询订单、物流、退换货、发票等问题。",
        "en": "Sorry, that's outside what I can help with. I can help with orders, shipping, returns, invoices and more.",
    },
    "no_route": {
        "zh": "抱歉，我暂时无法回答这个问题。您可以换个说法，或输入“人工”联系客服。",
        "en": "Sorry, I can't answer that yet. You can rephrase, or type 'agent' to reach a person.",
    },
    "handoff": {
        "zh": "已为您转接人工客服，请稍候，客服马上为您服务。",
        "en": "I'm connecting you with a member of our team. Please hold on, someone will be with you shortly.",
    },
    "escalate": {
        "zh": "我们很关心您的情况，已为您转接人工客服，请稍候。",
        "en": "We care about what you're going through. I'm connecting you with a person right now.",
    },
    "error": {
        "zh": "抱歉，系统开了个小差，请稍后再试，或输入“人工”联系客服。",
        "en": "Sorry, something went wrong on our side. Please try again, or type 'agent' to reach a person.",
    },
    "output_blocked": {
        "zh": "抱歉，这个问题我暂时无法回答，已为您记录，客服会跟进。",
        "en": "Sorry, I can't answer that right now. It has been noted and our team will follow up.",
    },
}


def text(name: str, lang: str) -> str:
    entry = TEXTS[name]
    return entry.get(lang) or entry["zh"]
