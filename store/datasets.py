"""A version as a partitioned Parquet dataset (Hive layout: `split=train/part-0.parquet`) that
Spark, DuckDB, Ray and pandas read as one table, written through pyarrow's filesystems so the
target may be a folder or an `s3://`, `gs://` or `hdfs://` URI.

Each row is an example's id, kind and canonical payload JSON (which ingests back to the same id),
its split when the version has them, and its size in characters and turns.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import duckdb

from gristmill.errors import GristmillError, UsageError
from gristmill.redact import redacted
from gristmill.store.versions import Version

if TYPE_CHECKING:
    import pyarrow.fs as pafs

PARTITION_BY = ("split", "kind", "none")
BATCH = 65_536


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and path of a local path or a URI (s3://bucket/key, with
    `?endpoint_override=host:port&scheme=http` for an S3-compatible server)."""
    import pyarrow.fs as pafs

    if "://" in uri and not uri.startswith("file://"):
        try:
            fs, path = pafs.FileSystem.from_uri(uri)
        except (ValueError, OSError) as e:
            raise GristmillError(f"cannot open {redacted(uri)}: {e}") from None
        return fs, path.rstrip("/")
    local = uri.removeprefix("file://")
    return pafs.LocalFileSystem(), os.path.abspath(local)


def write_dataset(con: duckdb.DuckDBPyConnection, version: Version, uri: str, where: str,
                  params: list, partition_by: str | None, rows_per_file: int) -> int:
    """Write the version's rows (filtered by `where`) under `uri`; returns how many. A local
    folder appears whole or not at all; a remote one gets `_SUCCESS` last, as Spark writes."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    if partition_by not in PARTITION_BY:
        raise UsageError(f"--partition-by is one of {', '.join(PARTITION_BY)}")
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        raise GristmillError(f"{redacted(uri)} exists; export writes a new dataset (name a new "
                             "path)")
    local = isinstance(fs, pafs.LocalFileSystem)
    target = f"{os.path.dirname(path)}/.{os.path.basename(path)}.partial" if local else path
    if local:
        shutil.rmtree(target, ignore_errors=True)
    fs.create_dir(target, recursive=True)
    reader = con.cursor().sql(
        "SELECT e.id, e.kind, e.payload, s.split, e.n_chars, e.n_turns FROM members m JOIN "
        "examples e ON e.key = m.example_key LEFT JOIN splits s ON s.version_id = m.version_id "
        f"AND s.example_key = m.example_key WHERE {where} ORDER BY m.example_key",
        params=params).to_arrow_reader(BATCH)
    written = 0

    def counted():
        nonlocal written
        for batch in reader:
            written += batch.num_rows
            yield batch

    rows = pa.RecordBatchReader.from_batches(reader.schema, counted())
    try:
        ds.write_dataset(
            rows, target, format="parquet", filesystem=fs,
            partitioning=None if partition_by == "none" else [partition_by],
            partitioning_flavor=None if partition_by == "none" else "hive",
            basename_template="part-{i}.parquet", max_rows_per_file=rows_per_file,
            max_rows_per_group=min(rows_per_file, BATCH), existing_data_behavior="error",
            file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"))
        if local:
            os.replace(target, path)
        else:
            with fs.open_output_stream(f"{path}/_SUCCESS"):
                pass
    finally:
        if local:
            shutil.rmtree(target, ignore_errors=True)
    return written
