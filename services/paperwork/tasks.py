"""Background jobs of paperwork, each run by ``infra.jobs`` in a transaction of its own."""

from __future__ import annotations

import logging

from infra.jobs import enqueue, job
from services.paperwork import fapiao, registry

log = logging.getLogger(__name__)


@job
def send_registry_record(record_id: int) -> None:
    """Job: send one record to the provincial registry (HTTPS adapter). A failed send is
    recorded on the record with its next attempt; ``registry send`` queues it when due."""
    status = registry.send(record_id)
    log.info("registry record %s: %s", record_id, status)


@job
def send_due_registry_records() -> None:
    """Job (from ``flask registry send``, every few minutes): queue every record due."""
    for record_id in registry.due_record_ids():
        enqueue(send_registry_record, record_id)


@job
def issue_fapiao(invoice_id: int) -> None:
    """Job: send an invoice's application to WeChat Pay's fapiao API."""
    fapiao.issue(invoice_id)


@job
def reverse_fapiao(invoice_id: int) -> None:
    """Job: ask WeChat Pay for an invoice's red-letter invoice (红冲)."""
    fapiao.reverse(invoice_id)


@job
def sync_fapiao(invoice_id: int) -> None:
    """Job (after a fapiao callback, or from ``invoices sync``): follow the invoice's state."""
    fapiao.sync(invoice_id)
