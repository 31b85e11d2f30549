"""The provincial continuing-education registry (省继续教育学时登记平台), simulated: the endpoint
the platform's HTTPS adapter posts its records to, checking them as the registry would.

``POST /registry/api/records`` takes one record as JSON, signed with the platform's shared
secret: ``X-Registry-Platform`` (the platform's id), ``X-Registry-Timestamp`` (Unix seconds,
within 5 minutes), ``X-Registry-Nonce`` (never seen twice) and ``X-Registry-Signature``, the hex
HMAC-SHA256 of ``timestamp\\nnonce\\nbody\\n``. Then the fields: a completion needs the
certificate's number, name, a valid 18-character ID number, year, plan, 学时 and completion
date; a withdrawal needs a reason and a completion of that number already registered.

Answers: ``200 {"code": "OK", "receipt": …}``; the same record again ``200 {"code":
"DUPLICATE", "receipt": <the first one's>}``; a bad signature ``401 SIGN_ERROR``; bad fields
``400 PARAM_ERROR``; a withdrawal of an unknown number ``409 NO_COMPLETION``. Tests (and
``POST /registry/sim/faults``) can make the next answers fail with 503.

Settings: ``REGISTRY_SIM`` = ``{"platform_id": …, "secret": …}`` in the simulator's config,
otherwise the development defaults the platform's development configuration also uses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

bp = Blueprint("registry_sim", __name__)

DEV_PLATFORM_ID = "GX-DEV-PLATFORM"
DEV_SECRET = "development-registry-secret-0000"
MAX_AGE_SECONDS = 300
_NUMBER = re.compile(r"^GX\d{4}(-[0-9A-Z]{4}){4}$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECKS = "10X98765432"
COMPLETION_FIELDS = (
    "record_id",
    "platform_id",
    "kind",
    "certificate_number",
    "name",
    "id_number",
    "year",
    "plan_title",
    "hours",
    "unit_name",
    "completed_on",
)


@dataclass
class RegistrySimulator:
    platform_id: str
    secret: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    # (kind, certificate number) -> the record as received, with its receipt
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    failures: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)  # every request's outcome

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        with self.lock:
            self.failures.extend([status] * count)

    def reset(self) -> None:
        with self.lock:
            self.records.clear()
            self.nonces.clear()
            self.failures.clear()
            self.received.clear()

    def registered(self, number: str) -> bool:
        """Whether the registry counts this certificate's 学时 now."""
        with self.lock:
            return ("completion", number) in self.records and (
                "withdrawal",
                number,
            ) not in self.records


def _settings(app: Flask) -> RegistrySimulator:
    given = dict(app.config.get("REGISTRY_SIM") or {})
    return RegistrySimulator(
        platform_id=given.get("platform_id", DEV_PLATFORM_ID),
        secret=given.get("secret", DEV_SECRET),
    )


@bp.record_once
def _set_up(state) -> None:
    state.app.extensions["registry_sim"] = _settings(state.app)


def registry_simulator() -> RegistrySimulator:
    return current_app.extensions["registry_sim"]


def _refuse(status: int, code: str, message: str):
    sim = registry_simulator()
    with sim.lock:
        sim.received.append({"status": status, "code": code, "message": message})
    return jsonify({"code": code, "message": message}), status


def valid_id_number(raw: str) -> bool:
    if len(raw) != 18 or not raw[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(raw[:17], _WEIGHTS, strict=True))
    return _CHECKS[total % 11] == raw[17].upper()


def _field_errors(record: dict[str, Any]) -> list[str]:
    kind = record.get("kind")
    if kind not in ("completion", "withdrawal"):
        return ["kind 应为 completion 或 withdrawal"]
    errors = [f"缺少 {name}" for name in COMPLETION_FIELDS if record.get(name) in (None, "")]
    if errors:
        return errors
    if not _NUMBER.match(str(record["certificate_number"])):
        errors.append("certificate_number 格式不正确")
    if not valid_id_number(str(record["id_number"])):
        errors.append("id_number 不是有效的身份证号码")
    if not isinstance(record["year"], int) or not 2000 <= record["year"] <= 2100:
        errors.append("year 应为年份")
    if not isinstance(record["hours"], int) or record["hours"] <= 0:
        errors.append("hours 应为正整数")
    try:
        date.fromisoformat(str(record["completed_on"]))
    except ValueError:
        errors.append("completed_on 应为 YYYY-MM-DD")
    if kind == "withdrawal" and not str(record.get("reason") or "").strip():
        errors.append("撤销记录须填写 reason")
    return errors


@bp.post("/api/records")
def receive_record():
    sim = registry_simulator()
    with sim.lock:
        if sim.failures:
            status = sim.failures.pop(0)
            sim.received.append({"status": status, "code": "SYSTEM_BUSY"})
            return jsonify({"code": "SYSTEM_BUSY", "message": "系统繁忙，请稍后重试"}), status
    body = request.get_data(as_text=True)
    platform = request.headers.get("X-Registry-Platform", "")
    timestamp = request.headers.get("X-Registry-Timestamp", "")
    nonce = request.headers.get("X-Registry-Nonce", "")
    signature = request.headers.get("X-Registry-Signature", "")
    if platform != sim.platform_id:
        return _refuse(401, "SIGN_ERROR", "未知的平台编号")
    try:
        age = abs(int(time.time()) - int(timestamp))
    except ValueError:
        return _refuse(401, "SIGN_ERROR", "X-Registry-Timestamp 格式不正确")
    if age > MAX_AGE_SECONDS:
        return _refuse(401, "SIGN_ERROR", "请求已过期")
    expected = hmac.new(
        sim.secret.encode(), f"{timestamp}\n{nonce}\n{body}\n".encode(), hashlib.sha256
    ).hexdigest()
    if not nonce or not hmac.compare_digest(expected, signature):
        return _refuse(401, "SIGN_ERROR", "签名验证失败")
    with sim.lock:
        if nonce in sim.nonces:
            return _refuse(401, "SIGN_ERROR", "重复的 X-Registry-Nonce")
        sim.nonces.add(nonce)
    try:
        record = json.loads(body)
    except ValueError:
        return _refuse(400, "PARAM_ERROR", "请求体不是合法的 JSON")
    if not isinstance(record, dict):
        return _refuse(400, "PARAM_ERROR", "请求体应为 JSON 对象")
    if record.get("platform_id") != platform:
        return _refuse(400, "PARAM_ERROR", "platform_id 与签名的平台不一致")
    errors = _field_errors(record)
    if errors:
        return _refuse(400, "PARAM_ERROR", "；".join(errors))
    key = (str(record["kind"]), str(record["certificate_number"]))
    with sim.lock:
        existing = sim.records.get(key)
        if existing is not None:
            sim.received.append({"status": 200, "code": "DUPLICATE"})
            return jsonify({"code": "DUPLICATE", "receipt": existing["receipt"]})
        if key[0] == "withdrawal" and ("completion", key[1]) not in sim.records:
            return _refuse(409, "NO_COMPLETION", "该证书编号没有已登记的学时")
        receipt = "SB" + secrets.token_hex(8).upper()
        sim.records[key] = {**record, "receipt": receipt}
        sim.received.append({"status": 200, "code": "OK", "receipt": receipt})
    return jsonify({"code": "OK", "receipt": receipt})


@bp.post("/sim/faults")
def inject_fault():
    """``{"count": 2, "status": 503}``: the next answers fail."""
    data = request.get_json(silent=True) or {}
    registry_simulator().fail_next(int(data.get("count", 1)), int(data.get("status", 503)))
    return jsonify({"ok": True})


@bp.get("/sim/state")
def state():
    sim = registry_simulator()
    with sim.lock:
        return jsonify(
            {
                "records": [
                    {"kind": kind, "certificate_number": number, "receipt": data["receipt"]}
                    for (kind, number), data in sim.records.items()
                ],
                "received": sim.received[-50:],
            }
        )
