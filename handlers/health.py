from flask import Blueprint, jsonify

from services.health import check_dependencies

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = check_dependencies()
    healthy = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if healthy else "unavailable", "checks": checks}), (
        200 if healthy else 503
    )
