"""A transformers TrainerCallback that reports a trainer's progress and loss to the job row and
stops the trainer at the next step once the job is cancelled."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ops_console.jobs.runner import JobContext


class JobProgressCallback(TrainerCallback):
    """Maps trainer steps onto the job's progress window [start, end] (a job may run several phases)."""

    def __init__(self, job: JobContext, start: float = 0.0, end: float = 1.0) -> None:
        self.job = job
        self.start = start
        self.end = end

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> TrainerControl:
        if state.max_steps:
            self.job.progress(self.start + (self.end - self.start) * state.global_step / state.max_steps)
        if self.job.cancel_requested():
            control.should_training_stop = True
        return control

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kwargs: Any) -> TrainerControl:
        if logs and "loss" in logs:
            self.job.loss(state.global_step, float(logs["loss"]))
            extra = ", ".join(f"{k}={v:.4g}" for k, v in logs.items()
                              if k != "loss" and isinstance(v, (int, float)) and k.startswith(("rewards/", "learning")))
            self.job.log(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f}" + (f" {extra}" if extra else ""))
        return control
