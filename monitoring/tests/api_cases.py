"""What the API tests share: the answers SPEC 6 fixes, the junk ids, and reports in a given state."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from monitoring.models import Report

NO_SUCH_REPORT = {"status": "No such report Id!"}
JSON_TYPE = "application/json; charset=utf-8"
# Ids a client may send by mistake or malice; none may be a 500, all are "No such report Id!".
JUNK_IDS = {
    "traversal": "../../etc/passwd",
    "sql": "1' OR '1'='1",
    "huge": "x" * 10000,
    "not-a-uuid": "not-a-uuid",
    "partial": "a3c1-",
    "unknown-uuid": str(uuid.uuid4()),
}
T0 = datetime(2023, 1, 25, 18, 0, tzinfo=UTC)


def make_report(state: str, **fields) -> Report:
    return Report.objects.create(state=state, requested_at=T0, **fields)
