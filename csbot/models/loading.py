"""One model load at a time per process.

transformers' `from_pretrained` patches `torch.nn.Module` process-wide while it builds a model, so a
second model built in another thread at the same moment can come out with empty ("meta") weights.
Every loader that builds a model — the hub's embedder loader and the bots' own — holds this lock
while it builds it, in the thread that does the building.
"""

from __future__ import annotations

import threading

LOAD_LOCK = threading.RLock()
