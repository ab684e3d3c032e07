"""Request bodies as the spec defines them (additionalProperties: false)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_SIZE = 2**62


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PassThrough(Strict):
    service_id: StrictStr
    operation_id: StrictStr | None = None
    extend_object: dict[str, Any] | None = None
    extend_paths: list[dict[str, Any]] | None = None


class CreateUploadSession(Strict):
    name: StrictStr
    parent_folder_id: StrictStr
    size: StrictInt | None = Field(default=None, ge=0, le=MAX_SIZE)
    drive_id: StrictStr | None = None
    pass_through: list[PassThrough] | None = None


class FinishUploadSession(Strict):
    pass


class CreateFile(Strict):
    name: StrictStr
    parent_folder_id: StrictStr
    drive_id: StrictStr | None = None
    description: StrictStr | None = None
    pass_through: list[PassThrough] | None = None


class UpdateEntry(Strict):
    name: StrictStr | None = None
    description: StrictStr | None = None
    parent_folder_id: StrictStr | None = None
    pass_through: list[PassThrough] | None = None


class CreateFolder(Strict):
    name: StrictStr
    parent_folder_id: StrictStr
    description: StrictStr | None = None
    drive_id: StrictStr | None = None
    pass_through: list[PassThrough] | None = None
