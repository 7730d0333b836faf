"""Partners: Kafka principals that read one tenant's partner stream and nothing else."""

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from helpline_cli.kafka_access import KafkaAccess
from helpline_shared.kafka_acls import partner_acls, partner_group_prefix, partner_user
from helpline_shared.kafka_security import KafkaSecurity, librdkafka_config
from helpline_shared.topics import partner_topic

PARTNER_MECHANISM: Final = "SCRAM-SHA-512"


@dataclass(frozen=True)
class PartnerCredentials:
    """What a partner needs to connect: its user, password and where to read."""

    user: str
    password: str
    topic: str
    group_prefix: str

    def properties(self, bootstrap_servers: str, ca_file: Path | None) -> str:
        """A client properties file with librdkafka's key names (Java clients read it too)."""
        security = KafkaSecurity("SASL_SSL", PARTNER_MECHANISM, self.user, self.password, ca_file)
        lines = [
            f"# Helpline partner stream: read topic {self.topic}",
            f"# with consumer groups named {self.group_prefix}<anything>.",
            *(
                f"{key}={value}"
                for key, value in librdkafka_config(security, bootstrap_servers).items()
            ),
        ]
        return "\n".join(lines) + "\n"


def create_partner(
    access: KafkaAccess, tenant: str, name: str, topic_prefix: str = ""
) -> PartnerCredentials:
    """Create (or re-key) the partner's SCRAM user and grant it its ACLs."""
    user = partner_user(tenant, name)
    password = secrets.token_urlsafe(24)
    access.set_password(user, password, PARTNER_MECHANISM)
    access.grant(user, partner_acls(tenant, name, topic_prefix))
    return PartnerCredentials(
        user, password, topic_prefix + partner_topic(tenant), partner_group_prefix(tenant, name)
    )


def revoke_partner(access: KafkaAccess, tenant: str, name: str) -> int:
    """Delete the partner's credentials and ACLs; return how many ACLs it had."""
    user = partner_user(tenant, name)
    access.delete_user(user)
    return access.revoke_all(user)


def list_partners(access: KafkaAccess) -> dict[str, list[str]]:
    """Each partner user and what it may read (``topic NAME``, ``groups PREFIX*``)."""
    partners: dict[str, list[str]] = {
        user: [] for user in access.users() if user.startswith("partner.")
    }
    for grant in access.grants():
        user = grant.principal.removeprefix("User:")
        if user.startswith("partner.") and grant.acl.operation == "Read":
            where = (
                f"topic {grant.acl.name}"
                if grant.acl.resource == "topic"
                else f"groups {grant.acl.name}*"
            )
            partners.setdefault(user, []).append(where)
    return {user: sorted(found) for user, found in sorted(partners.items())}
