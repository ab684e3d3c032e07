"""Request bodies as the spec defines them (additionalProperties: false)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

MAX_SIZE = 2**62
# Free text the server stores and sends back in every listing: unbounded, one body could store
# ~1 MiB on each drive, and a page of 200 drives was then a 200 MiB answer built in memory.
MAX_DESCRIPTION = 4096
MAX_LABEL = 1024  # as names (domain/names.py)
Description = Annotated[StrictStr, Field(max_length=MAX_DESCRIPTION)]
Label = Annotated[StrictStr, Field(max_length=MAX_LABEL)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Bodies whose route applies pass_through (shared links: http/passthrough.py) say so; every
    # other body refuses a non-empty one rather than drop it unseen.
    applies_pass_through: ClassVar[bool] = False

    @model_validator(mode="after")
    def _pass_through_applied_or_refused(self) -> Strict:
        if getattr(self, "pass_through", None) and not self.applies_pass_through:
            raise ValueError(
                "pass_through is not supported on this operation: partway has no downstream "
                "connector to pass it to"
            )
        return self


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
    description: Description | None = None
    pass_through: list[PassThrough] | None = None


class UpdateEntry(Strict):
    name: StrictStr | None = None
    description: Description | None = None
    parent_folder_id: StrictStr | None = None
    pass_through: list[PassThrough] | None = None


class CreateFolder(Strict):
    name: StrictStr
    parent_folder_id: StrictStr
    description: Description | None = None
    drive_id: StrictStr | None = None
    pass_through: list[PassThrough] | None = None


class PartChecksums(Strict):
    """partway extension: what a direct part will hold (base64, as HTTP digests carry them)."""

    part_number: StrictInt = Field(ge=0, le=10_000)
    md5: StrictStr | None = None
    crc32c: StrictStr | None = None


class DirectPartsRequest(Strict):
    parts: list[PartChecksums] = Field(min_length=1, max_length=1000)
