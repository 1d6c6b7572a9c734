"""Tokenisation for lexical recall: jieba with a tenant dictionary, synonyms, stop words, English.

Mixed Chinese/English queries are common ("iphone15 保修多久"), so Latin runs are kept as lower-cased
words and Chinese runs go through jieba's search mode (which also emits the shorter words inside
long ones), plus single characters so that a paraphrase with other word boundaries still overlaps.
English words are reduced to their Snowball stem (PyStemmer, the stemmer bm25s documents), so
"charged"/"charges"/"charging" meet in one term: short English paraphrases rarely repeat word forms.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable

import jieba
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

log = logging.getLogger(__name__)

#: common Chinese function words and politeness that say nothing about what is asked
ZH_STOPWORDS = frozenset(
    "的 了 吗 呢 啊 吧 呀 么 嘛 哦 哈 噢 是 在 我 你 您 他 她 它 们 我们 你们 这 那 这个 那个 一下 请问 请 "
    "麻烦 想 想问 问 问一下 一个 有 和 与 及 或 也 都 就 还 又 把 被 给 让 对 从 到 吧 啦 呗 嗯 诶 哎 "
    "可以 能 能不能 可不可以 怎么 怎样 如何 什么 为什么 多少 几 哪 哪里 哪个 谁".split()
)
#: words kept even though they look like stop words: they carry the question's intent for FAQ
KEEP = frozenset("怎么 如何 为什么 多少 几 哪里 多久 什么 能不能 可以".split())

_TOKEN_RE = re.compile(r"[a-z0-9]+(?:[.'\-][a-z0-9]+)*|[\u4e00-\u9fff]+")
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")
_jieba_lock = threading.Lock()
_stem_lock = threading.Lock()
_added_words: set[str] = set()


def add_words(words: Iterable[str]) -> int:
    """Teach jieba a tenant's product names and domain words.

    jieba keeps one process-wide dictionary; tenant words are added to it (adding a product name
    of one tenant does not hurt another's tokenisation in practice, and a private jieba
    Tokenizer per tenant would cost tens of MB each).
    """
    n = 0
    with _jieba_lock:
        for w in words:
            w = w.strip()
            if w and w not in _added_words:
                jieba.add_word(w, freq=None)
                _added_words.add(w)
                n += 1
    return n


def _english_stemmer() -> Callable[[str], str] | None:
    try:
        import Stemmer
    except ImportError:  # optional: without it English words are matched as written
        log.warning("PyStemmer is not installed: English words are not stemmed for BM25")
        return None
    stemmer = Stemmer.Stemmer("english")

    def stem(word: str) -> str:
        with _stem_lock:  # a PyStemmer object is not thread-safe
            return str(stemmer.stemWord(word))
    return stem


class TextProcessor:
    """Tokens for BM25: canonical synonyms, no stop words; the same function indexes and queries."""

    def __init__(self, synonyms: dict[str, str] | None = None, stopwords: Iterable[str] | None = None,
                 chars: bool = True, bigrams: bool = False, stem: bool = True) -> None:
        self.synonyms = {k.lower(): v.lower() for k, v in (synonyms or {}).items()}
        self.stopwords = frozenset(stopwords) if stopwords is not None else (
            (ZH_STOPWORDS - KEEP) | frozenset(ENGLISH_STOP_WORDS))
        self.chars = chars
        self.bigrams = bigrams
        self._stem = _english_stemmer() if stem else None

    def canonical(self, text: str) -> str:
        """The text with every synonym replaced by its canonical term (used to expand queries)."""
        low = text.lower()
        for term in sorted(self.synonyms, key=len, reverse=True):
            if term in low:
                low = low.replace(term, self.synonyms[term])
        return low

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        for run in _TOKEN_RE.findall(self.canonical(text)):
            if _CJK_RE.match(run):
                words = [w for w in jieba.cut_for_search(run) if w.strip()]
                out.extend(w for w in words if w not in self.stopwords)
                if self.chars:
                    out.extend(f"#{c}" for c in run if c not in self.stopwords)
                if self.bigrams:
                    out.extend(f"#{run[i:i + 2]}" for i in range(len(run) - 1))
            else:
                if run not in self.stopwords:
                    word = self.synonyms.get(run, run)
                    out.append(self._stem(word) if self._stem is not None and word.isalpha() else word)
        return out
