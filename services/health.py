"""Liveness of what every request needs: the database and Redis."""

from __future__ import annotations

import logging

from sqlalchemy import text

from infra.extensions import db
from infra.redis_client import get_redis

log = logging.getLogger(__name__)


def check_dependencies() -> dict[str, str]:
    """``{"database": "ok" | "error: …", "redis": …}``; never raises."""
    results: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        results["database"] = "ok"
    except Exception as exc:  # any failure means "not answering"
        db.session.rollback()
        log.warning("health check: database not answering: %s", exc)
        results["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        results["redis"] = "ok"
    except Exception as exc:
        log.warning("health check: redis not answering: %s", exc)
        results["redis"] = f"error: {type(exc).__name__}"
    return results
