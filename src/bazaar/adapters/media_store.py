"""The filesystem media store: content-addressed files under <BAZAAR_MEDIA_DIR>, two-level sharded."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

_KEY = re.compile(r"^[0-9a-f]{64}\.(webp|jpg|png)$")


class FilesystemMediaStore:
    """Keys are file names under `root/<first two hex digits>/`. A write goes to a temporary file and is
    renamed into place, so a reader never sees half an image. Several nodes must share `root` (NFS or the
    like) or use an object store adapter instead."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise KeyError(key)
        return self.root / key[:2] / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{key}.{os.getpid()}.{id(data)}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def get(self, key: str) -> bytes | None:
        try:
            path = self._path(key)
        except KeyError:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except KeyError:
            return
