"""One model load at a time per process.

transformers' `from_pretrained` patches `torch.nn.Module` process-wide while it builds a model, so a
second model built in another thread at the same moment can come out with empty ("meta") weights.
Every loader — the hub's and the bots' own — holds this lock while it builds a model.
"""

from __future__ import annotations

import threading

LOAD_LOCK = threading.RLock()
