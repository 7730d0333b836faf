"""The lead pages."""

from fastapi import APIRouter

router = APIRouter()
