"""The services of issue #18 (drives, shared links, search, signed URLs, folder copy), built
together and hung on the app's Services as one field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .companion import CompanionUploads
from .copies import FolderCopier
from .direct_uploads import DirectUploads
from .drives import DriveService
from .form_uploads import FormUploads
from .links import LinkService
from .search import SearchService
from .signing import Signer


class Tally(Protocol):
    """A counter (metrics) the domain bumps without knowing the metrics library."""

    def inc(self, amount: float = 1) -> None: ...


@dataclass(frozen=True)
class Catalog:
    drives: DriveService
    links: LinkService
    search: SearchService
    signer: Signer
    # Downloads served through shared links (partway_shared_link_downloads_total).
    link_downloads: Tally
    copies: FolderCopier
    # Parts PUT by clients straight into the object store (issue #20).
    direct: DirectUploads
    # Uppy's S3 plugin over direct sessions (issue #20).
    companion: CompanionUploads
    # Whole-file uploads to partway-signed URLs (`GET /s3/params`, issue #20).
    forms: FormUploads
