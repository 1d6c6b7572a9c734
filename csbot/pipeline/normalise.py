"""Text normalisation applied to every customer message before anything else reads it.

Full/half width folding (NFKC), lower case, traditional -> simplified Chinese (OpenCC), emoji
removal, collapsed whitespace and repeated punctuation. The raw text is kept for the log; bots,
the cache and the filters all read the normalised form, so they agree on what was asked.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC

_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\U00002b00-\U00002bff\ufe0f\u200d]+"
)
_SPACE = re.compile(r"\s+")
_REPEAT_PUNCT = re.compile(r"([!?.,~;:。！？，、；：…~])\1+")
# A space between two CJK characters carries no meaning ("退 货" == "退货").
_CJK_GAP = re.compile(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def normalise(text: str) -> str:
    """Canonical form of a customer message (idempotent: normalise(normalise(x)) == normalise(x))."""
    out = unicodedata.normalize("NFKC", text)
    out = _t2s().convert(out)
    out = _EMOJI.sub(" ", out)
    out = out.lower()
    out = _SPACE.sub(" ", out).strip()
    out = _CJK_GAP.sub("", out)
    out = _REPEAT_PUNCT.sub(r"\1", out)
    return out
