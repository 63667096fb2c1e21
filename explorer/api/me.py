"""Who is asking: ``/me``, the person the login token names (not recorded as a query)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from explorer.api.deps import CurrentPerson
from explorer.api.schemas import Me

router = APIRouter(tags=["people"])


@router.get("/me", summary="Who is asking", response_model=Me, response_model_exclude_unset=True)
def me(p: CurrentPerson) -> dict[str, Any]:
    return {
        "org": p.org, "name": p.name, "role": p.role, "display_name": p.display_name,
        "regulator": p.is_regulator, "expires_ms": p.expires_ms,
    }  # fmt: skip
