"""Names shared by the KB package: Redis keys, events, lexicon kinds, reply texts."""

from __future__ import annotations

EVENT_KB_CHANGED = "kb-changed"
#: ctx.key("kb", "version", tenant_id) holds the live version number (the answer cache keys on it)
KEY_KB = "kb"
KEY_VERSION = "version"

LEX_SYNONYM = "synonym"
LEX_DICTIONARY = "dictionary"
LEX_STOPWORD = "stopword"

#: how many published versions keep their Milvus collection (older ones can't be rolled back to)
KEEP_VERSIONS = 5

SUGGEST_LEAD = {"zh": "您是想问以下问题吗？", "en": "Did you mean:"}
MAX_SUGGESTIONS = 3
