"""A tenant's configuration kept across transactions while its configuration version holds."""

from helpline_shared.runtime.config_version import ConfigCache, ConfigReads


class Store:
    """A tenant configuration and its version, counting reads."""

    def __init__(self) -> None:
        self.value, self.version, self.reads, self.version_reads = "v1", 1, 0, 0

    async def read(self, tenant_id: str) -> str:
        self.reads += 1
        return f"{tenant_id}:{self.value}"

    async def read_version(self, tenant_id: str) -> int:
        self.version_reads += 1
        return self.version


async def test_kept_while_the_version_holds_and_read_again_once_it_moves() -> None:
    store, cache = Store(), ConfigCache[str]()
    for _transaction in range(3):
        reads = ConfigReads(cache, store.read_version)
        assert await reads.get("acme", store.read) == "acme:v1"
        assert await reads.get("acme", store.read) == "acme:v1"  # once per transaction
    assert (store.reads, store.version_reads) == (1, 3)

    store.value, store.version = "v2", 2  # another replica changed it
    assert await ConfigReads(cache, store.read_version).get("acme", store.read) == "acme:v2"
    assert store.reads == 2


async def test_a_transaction_changing_it_keeps_nothing_of_it() -> None:
    store, cache = Store(), ConfigCache[str]()
    await ConfigReads(cache, store.read_version).get("acme", store.read)
    changing = ConfigReads(cache, store.read_version)
    changing.changing("acme")
    store.value = "uncommitted"  # its version moves only at its commit
    assert await changing.get("acme", store.read) == "acme:uncommitted"
    assert changing.changed("acme") and store.version_reads == 1  # no version read: not kept
    store.value = "v1"  # rolled back
    assert await ConfigReads(cache, store.read_version).get("acme", store.read) == "acme:v1"
    assert store.reads == 3  # read again: what the changing transaction read was not kept


async def test_no_version_keeps_nothing() -> None:
    store, cache = Store(), ConfigCache[str]()

    async def none(_tenant_id: str) -> None:
        return None

    for _transaction in range(2):
        await ConfigReads(cache, none).get("acme", store.read)
    assert store.reads == 2
