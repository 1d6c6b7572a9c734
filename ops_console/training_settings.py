"""Settings of the training jobs: device and batch sizes per queue, read from `CSBOT_TRAINING_*`.

Kept beside the jobs (not in csbot.config) because only Celery workers read them. A GPU worker sets
`CSBOT_TRAINING_DEVICE=cuda` and gets the bigger batches; nothing else in a job changes.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class TrainingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSBOT_TRAINING_", extra="ignore")

    #: "cpu" or "cuda" (a worker on the `gpu` queue)
    device: str = "cpu"
    #: torch CPU threads of a worker process (0 = torch's default); 1 is fastest on a crowded machine
    torch_threads: int = 0
    cpu_batch_size: int = 4
    gpu_batch_size: int = 16
    #: LoRA of the chat model
    lora_rank: int = 16
    lora_alpha: int = 32
    sft_max_steps: int = 100
    sft_learning_rate: float = 2e-4
    dpo_max_steps: int = 60
    dpo_learning_rate: float = 5e-5
    dpo_beta: float = 0.1
    max_length: int = 512
    #: examples held out for the evaluation report once a set has at least this many
    min_examples_for_holdout: int = 10
    holdout_fraction: float = 0.2

    @property
    def batch_size(self) -> int:
        return self.gpu_batch_size if self.device.startswith("cuda") else self.cpu_batch_size
