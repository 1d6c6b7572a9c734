"""Widget endpoints (filled in below)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/widget", tags=["widget"])
static_router = APIRouter(tags=["widget"])
