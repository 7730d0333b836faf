"""Revision 0003 on a database with mail: stored mail keeps its dedup, mailboxes keep working."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from helpline_intake.bootstrap import MIGRATIONS
from helpline_intake.service_layer.inbound import fingerprint
from helpline_shared.runtime.migrations import upgrade

RAW = b"From: cy@customer.example\r\nMessage-ID: <a@b>\r\nSubject: x\r\n\r\nbody\r\n"


def test_existing_mail_gets_its_content_hash_and_mailbox_domains_stay_verified(
    tmp_path: Path,
) -> None:
    path = tmp_path / "intake.db"
    upgrade(MIGRATIONS, f"sqlite+aiosqlite:///{path}", "0002")
    engine = sa.create_engine(f"sqlite:///{path}")
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO inbound_messages (id, tenant_id, mailbox, dedup_key, recipients, "
                "source, raw, size, status, received_at) "
                "VALUES ('m1', 'acme', 'support@acme.test', "
                "'mid:x', '[]', 'smtp', :raw, 10, 'processed', :now)"
            ),
            {"raw": RAW, "now": now},
        )
        for number, (tenant, address, aliases) in enumerate(
            [
                ("acme", "support@acme.test", '["help@acme.test"]'),
                ("mallory", "billing@acme.test", "[]"),
                ("mallory", "desk@mallory.test", "[]"),
            ]
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO mailboxes (id, tenant_id, address, aliases, priority, type, tags, "
                    "created_at) VALUES (:id, :tenant, :address, :aliases, 'normal', 'question', "
                    "'[]', :created)"
                ),
                {
                    "id": f"b{number}",
                    "tenant": tenant,
                    "address": address,
                    "aliases": aliases,
                    "created": f"2026-01-0{number + 1}",
                },
            )
    upgrade(MIGRATIONS, f"sqlite+aiosqlite:///{path}")
    with engine.connect() as connection:
        [content] = (
            connection.execute(sa.text("SELECT content_sha256 FROM inbound_messages"))
            .scalars()
            .all()
        )
        domains = connection.execute(
            sa.text("SELECT name, tenant_id, status FROM domains ORDER BY name")
        ).all()
    assert content == hashlib.sha256(fingerprint(RAW)).hexdigest()
    # The oldest mailbox's tenant keeps acme.test; mallory's own domain stays verified too.
    assert [tuple(row) for row in domains] == [
        ("acme.test", "acme", "verified"),
        ("mallory.test", "mallory", "verified"),
    ]
    engine.dispose()
