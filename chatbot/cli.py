"""`csbot llm ...`: serve the chat model over an OpenAI-compatible API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from csbot.paths import shared_data_dir

app = typer.Typer(help="Chat model serving (OpenAI-compatible, with LoRA adapters).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Chat model serving (a callback keeps `serve` a subcommand when this app runs on its own)."""


def _parse_adapters(values: list[str]) -> dict[str, str]:
    adapters: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"--adapter expects NAME=PATH, got {value!r}")
        if not Path(path, "adapter_config.json").exists():
            raise typer.BadParameter(f"{path}: no adapter_config.json (not a LoRA adapter directory)")
        adapters[name] = path
    return adapters


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8001,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    model: Annotated[str, typer.Option(help="model directory or .gguf file (default: settings / shipped SmolLM2)")] = "",
    adapter: Annotated[list[str], typer.Option(help="LoRA adapter as NAME=PATH; repeatable")] = [],  # noqa: B006
    max_batch: Annotated[int, typer.Option(help="rows decoded together")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads of the model thread (0 = llm.torch_threads)")] = 0,
    no_batching: Annotated[bool, typer.Option("--no-batching", help="one request at a time (for comparison)")] = False,
) -> None:
    """Serve the in-process generator as /v1/chat/completions (SSE streaming) and /v1/models."""
    import uvicorn

    from chatbot.model_paths import resolve_chat_model
    from chatbot.server import create_app
    from chatbot.transformers_generator import TransformersGenerator
    from csbot.config import get_settings

    settings = get_settings()
    if model:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": model})})
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    location = resolve_chat_model(settings)
    generator = TransformersGenerator(
        location,
        max_batch=max_batch or settings.llm.max_batch,
        threads=threads or settings.llm.torch_threads,
        batching=not no_batching,
    )
    api = create_app(
        generator,
        adapters=_parse_adapters(adapter),
        default_max_tokens=settings.llm.max_new_tokens,
        time_budget_s=max(settings.llm.time_budget_s, 1.0) * 3,
    )
    typer.echo(f"serving {location.describe()} on http://{host}:{port}/v1", err=True)
    uvicorn.run(api, host=host, port=port, log_level=settings.log_level.lower())


@app.command("calibrate-retrieval")
def calibrate_retrieval(
    data: Annotated[Path, typer.Option(help="folder with lcqmc/, oppo/, clinc150/")] = shared_data_dir(),
    out: Annotated[Path | None, typer.Option(help="where to write (default: the shipped calibration file)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Fit the chitchat retrieval similarity on paraphrase pairs and write its calibration file."""
    import json

    from chatbot.calibration import calibrate_all
    from chatbot.retrieval import CALIBRATION_FILE
    from csbot.config import get_settings
    from csbot.models.hub import ModelHub

    settings = get_settings()
    encoder = ModelHub(settings).embedder()
    cals = calibrate_all(encoder, data)
    target = out or CALIBRATION_FILE
    payload = {lang: cal.model_dump() for lang, cal in cals.items()}
    target.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if json_out:
        typer.echo(json.dumps(payload, ensure_ascii=False))
    else:
        for lang, cal in cals.items():
            typer.echo(f"{lang}: threshold {cal.threshold}  {cal.metrics}")
        typer.echo(f"written to {target}", err=True)



@app.command("eval-retrieval")
def eval_retrieval(
    split: Annotated[str, typer.Option(help="tune, test or all")] = "test",
    data: Annotated[Path | None, typer.Option(help="eval rows (default: chatbot/data/retrieval_eval_zh.jsonl)")] = None,
    threshold: Annotated[float | None, typer.Option(help="override the answer threshold")] = None,
    write: Annotated[bool, typer.Option(
        "--write", help="choose the answer threshold on the tune split (F0.5) and save it in the calibration file"
    )] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Chinese chitchat retrieval on held-out queries: precision and recall of the reply it would give."""
    import json

    from chatbot.corpus import shipped_pairs
    from chatbot.retrieval import CALIBRATION_FILE, load_calibrations
    from chatbot.retrieval_eval import EVAL_FILE, choose_threshold, outcomes, read_eval, score
    from csbot.config import get_settings
    from csbot.models.hub import ModelHub

    rows = read_eval(data or EVAL_FILE)
    calibrations = load_calibrations()
    encoder = ModelHub(get_settings()).embedder()
    results, cal = outcomes(rows, shipped_pairs(), encoder, calibrations, "zh")
    if write:
        if "zh" not in calibrations or cal is not calibrations["zh"]:
            raise typer.BadParameter(f"no zh calibration for encoder {encoder.version}: run calibrate-retrieval first")
        threshold = choose_threshold([o for o in results if o.row.split == "tune"])
    cut = cal.cutoff if threshold is None else threshold
    report = {}
    for name in ("tune", "test") if split == "all" or write else (split,):
        picked = [o for o in results if o.row.split == name]
        if not picked:
            raise typer.BadParameter(f"no rows of split {name!r} in {data or EVAL_FILE}")
        report[name] = score(picked, cut).as_json()
    if write:
        calibrations["zh"] = cal.model_copy(update={
            "answer_threshold": cut,
            "answer_metrics": {f"{k}_{m}": float(v) for k, r in report.items() for m, v in r.items()},
        })
        payload = {lang: c.model_dump() for lang, c in calibrations.items()}
        CALIBRATION_FILE.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if json_out:
        typer.echo(json.dumps({"threshold": cut, **report}, ensure_ascii=False))
    else:
        for name, r in report.items():
            typer.echo(f"{name} (threshold {cut}): precision {r['precision']}  recall {r['recall']}  {r}")


if __name__ == "__main__":
    app()
