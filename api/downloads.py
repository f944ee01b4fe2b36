"""A CSV download: the lines a service streams, answered as an attachment.

The first chunk is taken before the response starts, so a refusal the service raises on its
first read (not found, forbidden) is still a problem response, not a cut-off download."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from fastapi.responses import StreamingResponse


def csv_download(lines: Iterator[str], filename: str) -> StreamingResponse:
    first = next(lines, "")
    return StreamingResponse(chain((first,), lines), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
