"""Where files and recordings' outputs live (``tkroom.storage.base`` says how;
docs/storage.md says which backend to choose): ``open_storage(settings)`` builds the node's."""

from __future__ import annotations

from tkroom.config import Settings, SettingsError
from tkroom.storage.base import (
    BadKey,
    Storage,
    StorageError,
    TooLarge,
    check_key,
    files_key,
    pages_prefix,
    record_key,
)
from tkroom.storage.folder import FolderStorage

__all__ = ["BadKey", "FolderStorage", "Storage", "StorageError", "TooLarge", "check_key",
           "files_key", "open_storage", "pages_prefix", "record_key"]


def open_storage(settings: Settings) -> Storage:
    """The storage the settings name, not yet started; ``SettingsError`` (one line) for an S3
    storage without a bucket, so ``serve`` stops before anything listens."""
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise SettingsError("TKROOM_STORAGE=s3 needs a bucket: set TKROOM_S3_BUCKET "
                                "(s3_bucket), and TKROOM_S3_ENDPOINT for a server other than AWS")
        from tkroom.storage.s3 import S3Storage  # botocore is slow to import: only when used

        return S3Storage.from_settings(settings)
    if settings.storage_dir is not None:
        return FolderStorage(settings.storage_dir, shared=True)
    return FolderStorage(settings.data_dir, shared=False)
