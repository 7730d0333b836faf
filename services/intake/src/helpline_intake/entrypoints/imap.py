"""The IMAP poller: fetch new mail of mailboxes hosted elsewhere, store it, then process it.

Nothing is moved (and nothing is ever deleted) before it is stored; the last stored UID is
remembered per UIDVALIDITY, and a crash between storing and remembering only refetches mail that
the dedup key then recognises.
"""

import asyncio
import logging
from dataclasses import dataclass

from helpline_intake.adapters.imap_source import ImapAccount, ImapFolder
from helpline_intake.domain.directory import Mailbox
from helpline_intake.service_layer.email_intake import MailProcessing, process_inbound, quarantine
from helpline_intake.service_layer.inbound import store_raw
from helpline_shared import netguard
from helpline_shared.inputs import hide_addresses
from helpline_shared.runtime.service import BackgroundLoop, periodic_loop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImapPolicy:
    """Where IMAP mailboxes may be, how they must be reached, and the largest mail fetched."""

    allow_private_networks: bool = False
    allow_plaintext: bool = False
    max_message_size: int = 25 * 1024 * 1024


async def poll_mailbox(
    mailbox: Mailbox, processing: MailProcessing, batch_size: int, policy: ImapPolicy
) -> int:
    """Fetch, store and process everything new in the mailbox's folder; return how many.

    Mail the server says is larger than ``policy.max_message_size`` is never downloaded: only its
    header is stored, quarantined with the reason, and the mail itself stays on the IMAP server.
    """
    max_size = policy.max_message_size
    assert mailbox.imap is not None
    account = ImapAccount.of(mailbox.imap)
    # The same guard as webhooks: resolved once, every address checked, the checked one used.
    addresses = await netguard.resolve_allowed(
        account.host, account.port, allow_private_networks=policy.allow_private_networks
    )
    folder = await asyncio.to_thread(
        ImapFolder, account, addresses, allow_plaintext=policy.allow_plaintext
    )
    try:
        last_uid = mailbox.imap_last_uid
        if mailbox.imap_uidvalidity != folder.uidvalidity:
            # The folder was recreated: its UIDs mean nothing now; dedup keeps this safe.
            last_uid = 0
        elif account.move_to:
            # Stored before a crash but not moved yet: move them now (they are safe in our store).
            await asyncio.to_thread(
                folder.move, await asyncio.to_thread(folder.uids_up_to, last_uid)
            )
        uids = await asyncio.to_thread(folder.uids_after, last_uid)
        count = 0
        for start in range(0, len(uids), batch_size):
            batch = uids[start : start + batch_size]
            sizes = await asyncio.to_thread(folder.sizes, batch)
            oversize = {uid: size for uid, size in sizes.items() if size > max_size}
            fetched = await asyncio.to_thread(
                folder.fetch, [uid for uid in batch if uid not in oversize]
            )
            fetched.update(await asyncio.to_thread(folder.fetch_headers, list(oversize)))
            for uid in batch:
                raw = fetched.get(uid)
                if raw is None:
                    continue
                stored = await store_raw(
                    raw, [mailbox], [mailbox.address], "imap", processing.unit_of_work
                )
                async with processing.unit_of_work() as uow:
                    await uow.mail.save_imap_position(mailbox.id, folder.uidvalidity, uid)
                    await uow.commit()
                for item in stored:
                    if item.new and uid in oversize:
                        await quarantine(
                            item.inbound_id,
                            _oversize_reason(oversize[uid], max_size, account),
                            processing.unit_of_work,
                        )
                    elif item.new:
                        await process_inbound(item.inbound_id, processing)
                count += 1
            await asyncio.to_thread(folder.move, batch)
        return count
    finally:
        await asyncio.to_thread(folder.close)


def _oversize_reason(size: int, max_size: int, account: ImapAccount) -> str:
    where = f"moved to {account.move_to}" if account.move_to else f"left in {account.folder}"
    return (
        f"mail of {size} bytes is larger than HELPLINE_MAX_MESSAGE_SIZE ({max_size}): "
        f"not downloaded, only its header is kept; the mail is {where} on the IMAP server"
    )


def imap_poller(
    processing: MailProcessing, interval: float, batch_size: int, policy: ImapPolicy
) -> BackgroundLoop:
    """Poll every IMAP mailbox every ``interval`` seconds."""

    async def poll_all(stopping: asyncio.Event) -> None:
        async with processing.unit_of_work().read_only() as uow:
            mailboxes = [box for box in await uow.mail.mailboxes() if box.imap]
        for mailbox in mailboxes:
            if stopping.is_set():
                return
            try:
                count = await poll_mailbox(mailbox, processing, batch_size, policy)
            except Exception as error:  # noqa: BLE001 - one bad account never stops others
                # A server's error may quote the account (an address): never logged.
                log.warning(
                    "imap poll failed",
                    extra={
                        "mailbox_id": mailbox.id,
                        "error_type": type(error).__name__,
                        "error": hide_addresses(str(error)[:300]),
                    },
                )
                continue
            if count:
                log.info("imap mail fetched", extra={"mailbox_id": mailbox.id, "count": count})

    return periodic_loop("imap-poller", interval, poll_all)
