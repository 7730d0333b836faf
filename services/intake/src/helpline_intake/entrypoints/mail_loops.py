"""Background work on stored mail: finish what a crash left pending."""

import logging
from datetime import timedelta

from helpline_intake.domain.inbound import PENDING
from helpline_intake.service_layer.email_intake import MailProcessing, process_inbound
from helpline_shared.runtime.db import utcnow
from helpline_shared.runtime.service import BackgroundLoop, periodic_loop

log = logging.getLogger(__name__)

GRACE = timedelta(seconds=5)
"""Mail younger than this is still being processed by the session that stored it."""


async def sweep_pending(processing: MailProcessing, grace: timedelta = GRACE) -> int:
    """Process stored mail still pending after ``grace`` (left by a crash); return how many."""
    done = 0
    after_id: str | None = None
    while True:
        async with processing.unit_of_work().read_only() as uow:
            batch = await uow.mail.inbound_list(
                status=PENDING, before=utcnow() - grace, after_id=after_id, limit=100
            )
        if not batch:
            return done
        for record in batch:
            await process_inbound(record.id, processing)
            done += 1
        after_id = batch[-1].id


def pending_sweeper(processing: MailProcessing, interval: float) -> BackgroundLoop:
    """Sweep pending mail at start and every ``interval`` seconds."""
    return periodic_loop("pending-mail", interval, lambda _stopping: sweep_pending(processing))
