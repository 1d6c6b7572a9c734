"""The CRM integration API (filled in below)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/crm", tags=["crm"])
