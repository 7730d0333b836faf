"""Attachment stores: the local filesystem (default) and memory (tests)."""

import asyncio
import hashlib
import os
import re
from pathlib import Path

from helpline_intake.domain.ports import StoredFile

_KEY = re.compile(r"^[0-9a-f]{64}$")


class FileAttachmentStore:
    """Content-addressed files under ``root/<tenant>/<sha256[:2]>/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, tenant_id: str, key: str) -> Path:
        if not _KEY.match(key):
            raise KeyError(key)
        tenant = hashlib.sha256(tenant_id.encode()).hexdigest()[:16]
        return self.root / tenant / key[:2] / key

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)

    async def put(self, tenant_id: str, data: bytes) -> StoredFile:
        """Write the bytes (fsynced) unless the same bytes are there already."""
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, self._path(tenant_id, digest), data)
        return StoredFile(key=digest, size=len(data), sha256=digest)

    async def get(self, tenant_id: str, key: str) -> bytes:
        """Read the bytes stored under ``key``."""
        path = self._path(tenant_id, key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as error:
            raise KeyError(key) from error


class MemoryAttachmentStore:
    """Attachments in a dict, for unit tests."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}

    async def put(self, tenant_id: str, data: bytes) -> StoredFile:
        """Keep the bytes."""
        digest = hashlib.sha256(data).hexdigest()
        self.files[(tenant_id, digest)] = data
        return StoredFile(key=digest, size=len(data), sha256=digest)

    async def get(self, tenant_id: str, key: str) -> bytes:
        """Return the kept bytes."""
        return self.files[(tenant_id, key)]
