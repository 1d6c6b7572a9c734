"""Placeholder; replaced below."""

from fastapi import FastAPI


async def start_dispatcher(app: FastAPI) -> None:
    return None


async def stop_dispatcher(app: FastAPI) -> None:
    return None
