"""Ledger retention: finished deliveries and attempts older than the retention period go."""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from helpline_notify.service_layer.unit_of_work import NotifyUnitOfWork
from helpline_shared.runtime.db import utcnow

log = logging.getLogger(__name__)


async def purge_ledger(unit_of_work: Callable[[], NotifyUnitOfWork], retention: timedelta,
                       now: datetime) -> int:
    """Delete what the retention period no longer keeps; return how many deliveries went."""
    async with unit_of_work() as uow:
        purged = await uow.deliveries.purge_finished_before(now - retention)
        await uow.commit()
    return purged


class RetentionLoop:
    """Purges the ledger now and then until stopped."""

    def __init__(self, unit_of_work: Callable[[], NotifyUnitOfWork], retention: timedelta,
                 interval: float) -> None:
        self._unit_of_work = unit_of_work
        self._retention = retention
        self._interval = interval
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Purge, then wait ``interval`` seconds, until ``stop``."""
        while not self._stopped.is_set():
            try:
                purged = await purge_ledger(self._unit_of_work, self._retention, utcnow())
                if purged:
                    log.info("ledger purged", extra={"deliveries": purged})
            except Exception:  # a database outage must not end the loop
                log.exception("purging the ledger failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)

    async def stop(self) -> None:
        """End ``run``."""
        self._stopped.set()
