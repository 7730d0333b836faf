"""Kafka users and their ACLs on a broker: SCRAM credentials, grants, revocations, listings.

Through confluent-kafka's admin client (aiokafka's has no SCRAM or ACL requests). The permissions
themselves come from :mod:`helpline_shared.kafka_acls`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from helpline_shared.kafka_acls import Acl
from helpline_shared.kafka_security import KafkaSecurity, librdkafka_config

TIMEOUT = 15.0
SCRAM_ITERATIONS = 8192
_MECHANISMS = {
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
}
_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "cluster": ResourceType.BROKER,
}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefix": ResourcePatternType.PREFIXED}
_OPERATIONS = {
    "Read": AclOperation.READ,
    "Write": AclOperation.WRITE,
    "Describe": AclOperation.DESCRIBE,
    "Create": AclOperation.CREATE,
    "IdempotentWrite": AclOperation.IDEMPOTENT_WRITE,
}


class KafkaAccessError(RuntimeError):
    """The broker refused or failed a user or ACL change."""


@dataclass(frozen=True)
class Grant:
    """One ACL of one principal as the broker holds it."""

    principal: str
    acl: Acl


class KafkaAccess:
    """Users and ACLs of one cluster, changed by a principal allowed to (a super user)."""

    def __init__(self, bootstrap_servers: str, security: KafkaSecurity) -> None:
        self._admin = AdminClient(
            {**librdkafka_config(security, bootstrap_servers), "client.id": "helpline-cli"}
        )

    def set_password(self, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> None:
        """Create ``user``'s SCRAM credential, or replace its password."""
        upsert = UserScramCredentialUpsertion(
            user, ScramCredentialInfo(_MECHANISMS[mechanism], SCRAM_ITERATIONS), password.encode()
        )
        self._wait(self._admin.alter_user_scram_credentials([upsert]).values())

    def delete_user(self, user: str) -> None:
        """Delete ``user``'s SCRAM credentials (both mechanisms, whichever exist)."""
        existing = self.users().get(user, ())
        deletions: list[UserScramCredentialAlteration] = [
            UserScramCredentialDeletion(user, _MECHANISMS[m]) for m in existing
        ]
        if deletions:
            self._wait(self._admin.alter_user_scram_credentials(deletions).values())

    def users(self) -> dict[str, tuple[str, ...]]:
        """Every SCRAM user and its mechanisms."""
        future: Any = self._admin.describe_user_scram_credentials()
        try:
            described = future.result(TIMEOUT)
        except KafkaException as error:
            raise KafkaAccessError(str(error)) from error
        return {
            user: tuple(
                next(k for k, v in _MECHANISMS.items() if v == info.mechanism)
                for info in description.scram_credential_infos
            )
            for user, description in described.items()
        }

    def grant(self, user: str, acls: Iterable[Acl]) -> None:
        """Allow ``user`` each of ``acls`` (granting twice is harmless)."""
        bindings = [
            AclBinding(
                _RESOURCES[acl.resource],
                acl.name,
                _PATTERNS[acl.pattern],
                f"User:{user}",
                "*",
                _OPERATIONS[acl.operation],
                AclPermissionType.ALLOW,
            )
            for acl in acls
        ]
        if bindings:
            self._wait(self._admin.create_acls(bindings).values())

    def revoke_all(self, user: str) -> int:
        """Remove every ACL of ``user``; return how many there were."""
        future = self._admin.delete_acls([self._filter(user)])
        deleted = 0
        for item in future.values():
            try:
                deleted += len(item.result(TIMEOUT))
            except KafkaException as error:
                raise KafkaAccessError(str(error)) from error
        return deleted

    def grants(self, user: str | None = None) -> list[Grant]:
        """The ACLs on the broker (of ``user``, if given) that Helpline can express."""
        try:
            bindings = self._admin.describe_acls(self._filter(user)).result(TIMEOUT)
        except KafkaException as error:
            raise KafkaAccessError(str(error)) from error
        found = []
        for binding in bindings:
            resource = _key(_RESOURCES, binding.restype)
            pattern = _key(_PATTERNS, binding.resource_pattern_type)
            operation = _key(_OPERATIONS, binding.operation)
            if resource and pattern and operation:
                found.append(
                    Grant(
                        binding.principal,
                        Acl(
                            resource,  # type: ignore[arg-type]
                            binding.name,
                            pattern,  # type: ignore[arg-type]
                            operation,  # type: ignore[arg-type]
                        ),
                    )
                )
        return found

    @staticmethod
    def _filter(user: str | None) -> AclBindingFilter:
        anything = cast(str, None)  # librdkafka's "any" of a filter; the stubs say str only
        return AclBindingFilter(
            ResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            f"User:{user}" if user else anything,
            anything,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )

    @staticmethod
    def _wait(futures: Iterable[Any]) -> None:
        for future in futures:
            try:
                future.result(TIMEOUT)
            except KafkaException as error:
                raise KafkaAccessError(str(error)) from error


def _key(table: dict[str, Any], value: object) -> str | None:
    return next((key for key, item in table.items() if item == value), None)
