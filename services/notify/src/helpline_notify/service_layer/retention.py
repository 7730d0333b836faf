"""Ledger retention: finished deliveries and attempts older than the retention period go."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.runtime.db import utcnow

log = logging.getLogger(__name__)


async def purge_ledger(
    unit_of_work: Callable[[], NotifyUnitOfWork], retention: timedelta, now: datetime
) -> int:
    """Delete what the retention period no longer keeps; return how many deliveries went."""
    async with unit_of_work() as uow:
        purged = await uow.deliveries.purge_finished_before(now - retention)
        await uow.commit()
    return purged


async def purge_and_report(
    unit_of_work: Callable[[], NotifyUnitOfWork], retention: timedelta
) -> None:
    """One retention round: purge, and say how much went."""
    purged = await purge_ledger(unit_of_work, retention, utcnow())
    if purged:
        log.info("ledger purged", extra={"deliveries": purged})
