"""Names shared by the Celery app, the job service and the worker command."""

QUEUES = ("cpu", "gpu")
TASK_NAME = "ops_console.run_job"
