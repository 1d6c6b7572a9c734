"""The Celery application of the training jobs: Redis as broker and result backend, queues `cpu` and `gpu`.

`celery -A ops_console.celery_app worker -Q cpu` or `csbot worker --queues cpu,gpu` start a worker.
Every key the broker and the backend write carries the installation's Redis prefix, so several
installations (or test runs) share one Redis server without seeing each other's jobs.
"""

from __future__ import annotations

from csbot.config import get_settings
from ops_console.celery_factory import make_celery
from ops_console.constants import QUEUES, TASK_NAME  # noqa: F401 - re-exported

app = make_celery(get_settings())
