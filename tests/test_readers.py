import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.store import readers
from gristmill.store.readers import Record


def read(path: Path, max_bytes: int = 1 << 20) -> list[Record]:
    return list(readers.read(path, max_bytes))


def errors(path: Path, **kw) -> list[tuple]:
    return [(r.position, r.error) for r in read(path, **kw) if r.error]


def test_jsonl_lines_are_numbered_and_blank_lines_skipped(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "a"}\n\n   \n{"text": "b"}\r\n')
    assert [(r.position, r.value) for r in read(p)] == [(1, {"text": "a"}), (4, {"text": "b"})]


@pytest.mark.parametrize("content, expected", [
    (b'{"text": "a"}\n{"text": \n', (2, "not valid JSON: unexpected end of data at column 10")),
    (b'{"text": "a"} x\n', (1, "not valid JSON: unexpected content after document at column 15")),
    (b'[1, 2]\n', (1, "expected a JSON object, found an array")),
    (b'{"text": "caf\xe9"}\n', (1, "not valid UTF-8 (byte 0xe9 at column 14); Gristmill reads UTF-8 text")),
    (b'{"text": "a"}\n{"text": "b', (2, "the last line is cut off (no newline at the end and not "
                                     "valid JSON): was the file still being written?")),
    (b"", (None, "the file is empty")),
    (b"\xff\xfe{\x00}\x00", (None, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                             "Gristmill reads UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8")),
])
def test_jsonl_problems_get_a_clear_message(tmp_path, content, expected):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    assert errors(p) == [expected]


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"text": "a"}\n')
    assert read(p) == [Record(1, {"text": "a"})]


def test_an_overlong_line_is_skipped_without_reading_it_whole(tmp_path):
    p = tmp_path / "big.jsonl"
    with open(p, "wb") as f:
        f.write(b'{"text": "a"}\n{"text": "')
        f.write(b"x" * (3 << 20))
        f.write(b'"}\n{"text": "c"}\n')
    records = read(p, max_bytes=1 << 20)
    assert [(r.position, r.value) for r in records if r.value] == [(1, {"text": "a"}), (3, {"text": "c"})]
    assert errors(p, max_bytes=1 << 20) == [
        (2, "the line is 3.0 MiB, over the limit of 1.0 MiB a record (--max-record-bytes)")]


def test_a_last_line_without_newline_is_fine_when_complete(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "a"}\n{"text": "b"}')
    assert [r.value for r in read(p)] == [{"text": "a"}, {"text": "b"}]


def test_byte_ranges_cover_a_file_exactly(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"".join(b'{"text": "%d"}\n' % i for i in range(100)))
    size, cut = p.stat().st_size, p.read_bytes().index(b"\n", 500) + 1
    first = list(readers.lines(p, 1 << 20, 0, cut))
    second = list(readers.lines(p, 1 << 20, cut, size - cut))
    records = [readers.parse_line(*line, 1 << 20) for line in first + second]
    assert [r.value["text"] for r in records] == [str(i) for i in range(100)]
    assert second[0][0] == 1


def test_gzip_json_array_csv_and_parquet(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b'{"text": "a"}\n')
    assert read(gz) == [Record(1, {"text": "a"})]

    arr = tmp_path / "a.json"
    arr.write_text('[{"text": "a"}, 3]')
    assert [(r.position, r.value, r.error) for r in read(arr)] == [
        (1, {"text": "a"}, None), (2, None, "expected a JSON object, found a number")]

    broken = tmp_path / "broken.json"
    broken.write_text('[{"text": "a"}, {"te')
    (problem,) = [(r.position, r.error) for r in read(broken) if r.error]
    assert problem[0] is None and problem[1].startswith(
        f'not a valid JSON array: Malformed JSON in file "{broken}", at byte 5')
    assert problem[1].endswith("unexpected end of data")
    big = tmp_path / "big.json.gz"
    with gzip.open(big, "wt") as f:
        f.write('[{"text": "%s"}, {"text": "small"}]' % ("x" * 2000))
    assert [(r.position, r.error) for r in read(big, max_bytes=1000)] == [
        (1, "the item is 2,012 bytes, over the limit of 1,000 bytes a record (--max-record-bytes)"),
        (2, None)]

    lines_in_json = tmp_path / "lines.json"
    lines_in_json.write_text('{"text": "a"}\n{"text": "b"}\n')
    assert [r.value for r in read(lines_in_json)] == [{"text": "a"}, {"text": "b"}]

    csv = tmp_path / "a.csv"
    csv.write_text('instruction,input,output\n"two\nlines",,out\nx,y,z,extra\n')
    assert [(r.position, r.value, r.error) for r in read(csv)] == [
        (3, {"instruction": "two\nlines", "output": "out"}, None),
        (4, None, "the row has more fields than the header")]

    pqf = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a", "b"]}), pqf)
    assert [(r.position, r.value) for r in read(pqf)] == [(1, {"text": "a"}), (2, {"text": "b"})]


def test_file_types_from_names_and_bytes(tmp_path):
    odd = tmp_path / "data.txt"
    odd.write_bytes(b"hello")
    with pytest.raises(ValueError, match="cannot tell the file type from its name"):
        readers.file_type(odd)
    sniffed = tmp_path / "data.dump"
    sniffed.write_bytes(b'{"text": "a"}\n')
    assert readers.file_type(sniffed) == "json"
    assert readers.file_type(tmp_path / "x.ndjson.gz") == "jsonl"
