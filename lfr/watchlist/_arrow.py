"""The Arrow rows of a watchlist's LanceDB tables: entries to rows and back.

`scan` and `described` read the metadata columns only, so listings and labels never read a
template; `entries` reads the templates straight from Arrow's buffers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from lfr.watchlist.entry import EntryMetadata, WatchlistEntry

__all__ = ["LISTED", "META", "described", "entries", "rows", "scan", "schema", "where"]

META = (
    "entry_id",
    "label",
    "category",
    "legal_basis",
    "image_source",
    "added_by",
    "added_at",
    "expires_at",
)
# what a listing reads: never `vector` or `templates`
LISTED = (*META, "photos", "image_ref", "photo_sources")


def schema(dim: int, *, version: bool) -> Any:
    import pyarrow as pa

    fields = [pa.field(n, pa.string()) for n in META]
    fields.append(pa.field("photos", pa.int32()))
    fields.append(pa.field("vector", pa.list_(pa.float32(), dim)))
    fields.append(pa.field("image_ref", pa.string()))
    fields.append(pa.field("templates", pa.list_(pa.list_(pa.float32(), dim))))
    fields.append(pa.field("photo_sources", pa.list_(pa.string())))
    if version:
        fields.insert(0, pa.field("version", pa.string()))
    return pa.schema(fields)


def rows(dim: int, entries: list[WatchlistEntry], version: str | None = None) -> Any:
    import pyarrow as pa

    columns: dict[str, Any] = {}
    if version is not None:
        columns["version"] = [version] * len(entries)
    for key in META:
        columns[key] = [str(e.metadata()[key]) for e in entries]
    columns["photos"] = pa.array([e.photos for e in entries], pa.int32())
    flat = (
        np.concatenate([e.embedding.astype(np.float32) for e in entries])
        if entries
        else (np.zeros(0, np.float32))
    )
    columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
    columns["image_ref"] = pa.array([e.image_ref for e in entries], pa.string())
    columns["templates"] = pa.array(
        [None if e.templates is None else list(e.templates) for e in entries],
        pa.list_(pa.list_(pa.float32(), dim)),
    )
    columns["photo_sources"] = pa.array(
        [list(e.photo_sources) if e.templates is not None else None for e in entries],
        pa.list_(pa.string()),
    )
    return pa.table(columns, schema=schema(dim, version=version is not None))


def _templates(table: Any) -> list[npt.NDArray[np.float32] | None]:
    """Each row's per-photo templates (k x dim) straight from Arrow's buffers, not as
    Python floats: a list of thousands of entries holds millions of them."""
    if "templates" not in table.column_names:
        return [None] * table.num_rows
    column = table.column("templates").combine_chunks()
    offsets = column.offsets.to_numpy()
    rows = column.values  # one fixed-size list per template, over the whole column
    flat = rows.flatten().to_numpy(zero_copy_only=False).reshape(-1, rows.type.list_size)
    return [
        None
        if not column[i].is_valid
        else np.array(flat[offsets[i] : offsets[i + 1]], dtype=np.float32)
        for i in range(len(column))
    ]


def entries(table: Any) -> list[WatchlistEntry]:
    templates = _templates(table)
    data = table.drop_columns([c for c in ("templates",) if c in table.column_names])
    data = data.to_pydict()
    refs = data.get("image_ref") or [None] * table.num_rows
    sources = data.get("photo_sources") or [None] * table.num_rows
    out = []
    for i in range(table.num_rows):
        out.append(
            WatchlistEntry(
                entry_id=data["entry_id"][i],
                label=data["label"][i],
                category=data["category"][i],
                legal_basis=data["legal_basis"][i],
                image_source=data["image_source"][i],
                added_by=data["added_by"][i],
                added_at=datetime.fromisoformat(data["added_at"][i]),
                expires_at=datetime.fromisoformat(data["expires_at"][i]),
                embedding=np.asarray(data["vector"][i], dtype=np.float32),
                photos=int(data["photos"][i]),
                image_ref=refs[i],
                templates=templates[i],
                photo_sources=tuple(sources[i] or ()),
            )
        )
    return out


def scan(table: Any, where: str | None = None) -> Any:
    """The metadata columns of the rows `where` selects. LanceDB reads only the
    projected columns, so no template is read, decoded or kept in memory."""
    query = table.search()
    if where is not None:
        query = query.where(where)
    return query.select(list(LISTED)).limit(None).to_arrow()


def described(rows: Any) -> list[EntryMetadata]:
    data = rows.to_pydict()
    return sorted(
        (
            EntryMetadata(
                entry_id=data["entry_id"][i],
                label=data["label"][i],
                category=data["category"][i],
                legal_basis=data["legal_basis"][i],
                image_source=data["image_source"][i],
                added_by=data["added_by"][i],
                added_at=datetime.fromisoformat(data["added_at"][i]),
                expires_at=datetime.fromisoformat(data["expires_at"][i]),
                photos=int(data["photos"][i]),
                image_ref=data["image_ref"][i],
                photo_sources=tuple(data["photo_sources"][i] or ()),
            )
            for i in range(rows.num_rows)
        ),
        key=lambda e: e.entry_id,
    )


def where(table: Any, condition: str) -> Any:
    """Every column of the rows `condition` selects (templates included)."""
    return table.search().where(condition).limit(None).to_arrow()
