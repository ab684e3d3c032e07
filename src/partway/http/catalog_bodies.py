"""Request bodies of drives, drive groups, shared links, search and folder copy."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, StrictInt, StrictStr

from .bodies import Description, Label, PassThrough, Strict


class CreateDrive(Strict):
    name: StrictStr
    description: Description | None = None
    pass_through: list[PassThrough] | None = None


class UpdateDrive(Strict):
    name: StrictStr | None = None
    description: Description | None = None
    pass_through: list[PassThrough] | None = None


class CreateDriveGroup(Strict):
    name: StrictStr
    display_name: Label | None = None
    description: Description | None = None
    pass_through: list[PassThrough] | None = None


class UpdateDriveGroup(Strict):
    name: StrictStr | None = None
    display_name: Label | None = None
    description: Description | None = None
    pass_through: list[PassThrough] | None = None


class SharedLinkBody(Strict):
    """The spec's SharedLink input. `expires_at` and `max_downloads` are partway's own (the
    SDKs carry them in pass_through's extend_object, see http/passthrough.py)."""

    applies_pass_through: ClassVar[bool] = True

    target_id: StrictStr | None = None
    download_url: StrictStr | None = None
    scope: Literal["public", "company"] | None = None
    password: StrictStr | None = Field(default=None, max_length=1024)
    expires_at: datetime | None = None
    max_downloads: StrictInt | None = Field(default=None, ge=1, le=2**62)
    pass_through: list[PassThrough] | None = None


class FilesSearch(Strict):
    query: StrictStr = Field(max_length=1024)
    drive_id: StrictStr | None = None
    pass_through: list[PassThrough] | None = None


class CopyFolder(Strict):
    parent_folder_id: StrictStr
    name: StrictStr | None = None
    id: StrictStr | None = None
    pass_through: list[PassThrough] | None = None
