"""Parquet in and out of a distributed run, through pyarrow's filesystems: a local folder, or an
`s3://`, `gs://` or `hdfs://` URI that every node of the cluster can reach."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from gristmill.curation.rows import FIRST_SOURCE
from gristmill.scale.parts import SCHEMA, home
from gristmill.store.datasets import filesystem
from gristmill.store.db import Store
from gristmill.store.versions import Version

BATCH = 8192


@dataclass(frozen=True)
class Folder:
    """Where a run's Parquet goes; picklable, so tasks on any node write and read it."""

    fs: pafs.FileSystem
    path: str
    uri: str

    @classmethod
    def at(cls, uri: str) -> Folder:
        fs, path = filesystem(uri)
        return cls(fs, path, uri)

    def file(self, name: str, i: int) -> str:
        return f"{self.path}/{name}/part-{i:05d}.parquet"

    def write(self, name: str, i: int, table: pa.Table) -> str:
        self.fs.create_dir(f"{self.path}/{name}", recursive=True)
        pq.write_table(table, self.file(name, i), filesystem=self.fs)
        return self.file(name, i)

    def read(self, name: str, i: int) -> pa.Table:
        return pq.read_table(self.file(name, i), filesystem=self.fs)


def export(store: Store, version: Version, n: int, folder: Folder) -> None:
    """The version's members (with their first source's metadata) as `n` Parquet files in
    `folder`/input, each the rows of one home in key order."""
    folder.fs.create_dir(f"{folder.path}/input", recursive=True)
    writers = [pq.ParquetWriter(folder.file("input", i), SCHEMA, filesystem=folder.fs)
               for i in range(n)]
    try:
        with store.read() as con:
            reader = con.cursor().sql(
                "SELECT e.key, e.id, e.kind, e.payload, s.meta, s.source FROM members m "
                f"JOIN examples e ON e.key = m.example_key {FIRST_SOURCE} WHERE m.version_id = ? "
                "ORDER BY e.key", params=[version.version_id]).to_arrow_reader(BATCH)
            for batch in reader:
                table = pa.Table.from_batches([batch]).cast(SCHEMA)
                where = home(table.column("key").to_numpy(), n)
                for i in np.unique(where).tolist():
                    writers[i].write_table(table.filter(pa.array(where == i)))
    finally:
        for w in writers:
            w.close()
