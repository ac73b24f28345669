"""store_raw_report_file: a file kept raw without being parsed (what quarantine relies on)."""

from __future__ import annotations

import gzip
import hashlib
import io

import pyarrow as pa
import pytest
import sqlalchemy as sa

from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.report_raw import RawFileInfo, open_stored_content, store_raw_report_file

from wh_helpers import migrated_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    eng = migrated_engine(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    yield eng
    eng.dispose()


def test_a_file_that_is_not_csv_is_stored_compressed_and_reads_back_exactly(engine, monkeypatch) -> None:
    monkeypatch.setattr("checkout_freshportal.warehouse.report_raw.RAW_PART_BYTES", 4096)
    noise = b"".join(hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(4000))
    data = b"\x00\xffnot a csv\r\n" + noise  # incompressible: several parts
    with engine.begin() as conn:
        info = store_raw_report_file(conn, file_id="file_bad", stream=io.BytesIO(data))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert (info.size_bytes, info.content_encoding) == (len(data), "zstd")
    t = schema.raw_report_file_contents
    with engine.connect() as conn:
        parts = conn.execute(sa.select(t.c.content).where(t.c.file_id == "file_bad").order_by(t.c.part)).all()
        assert len(parts) > 1
        stored = b"".join(p[0] for p in parts)
        assert len(stored) == info.content_bytes
        # the parts concatenate to one ordinary zstd stream
        assert pa.decompress(stored, len(data), codec="zstd", asbytes=True) == data
        assert open_stored_content(conn, "file_bad", info).read() == data


def test_a_file_stored_gzip_before_zstd_still_reads_back(engine) -> None:
    data = b"Action ID,Processed On\r\nact_1,2022-11-11 12:08:07\r\n" * 5000
    packed = gzip.compress(data)
    t = schema.raw_report_file_contents
    with engine.begin() as conn:
        for i in range(0, len(packed), 1000):
            conn.execute(sa.insert(t).values(file_id="old", part=i // 1000, content=packed[i : i + 1000]))
    info = RawFileInfo(hashlib.sha256(data).hexdigest(), len(data), "gzip", len(packed))
    with engine.connect() as conn:
        assert open_stored_content(conn, "old", info).read() == data


@pytest.mark.parametrize("data", [b"", b"x", b"\r\n" * 3])
def test_tiny_and_empty_files_round_trip(engine, data: bytes) -> None:
    with engine.begin() as conn:
        info = store_raw_report_file(conn, file_id="tiny", stream=io.BytesIO(data))
    with engine.connect() as conn:
        assert open_stored_content(conn, "tiny", info).read() == data


def test_corrupt_stored_bytes_are_refused_with_the_file_named(engine) -> None:
    with engine.begin() as conn:
        info = store_raw_report_file(conn, file_id="f", stream=io.BytesIO(b"abc,def\r\n" * 1000))
        t = schema.raw_report_file_contents
        conn.execute(sa.update(t).where(t.c.file_id == "f").values(content=b"\x28\xb5\x2f\xfd garbage"))
    with engine.connect() as conn, pytest.raises(ValueError, match="report file f"):
        open_stored_content(conn, "f", info).read()


def test_storing_a_file_id_again_replaces_its_parts(engine) -> None:
    with engine.begin() as conn:
        store_raw_report_file(conn, file_id="f", stream=io.BytesIO(b"first\n" * 10_000))
        info = store_raw_report_file(conn, file_id="f", stream=io.StringIO("second"))
    with engine.connect() as conn:
        assert open_stored_content(conn, "f", info).read() == b"second"


def test_a_mismatching_sha256_is_refused_at_the_end(engine) -> None:
    with engine.begin() as conn:
        info = store_raw_report_file(conn, file_id="f", stream=io.BytesIO(b"abc"))
    forged = type(info)("0" * 64, info.size_bytes, info.content_encoding, info.content_bytes)
    with engine.connect() as conn, pytest.raises(ValueError, match="does not match"):
        open_stored_content(conn, "f", forged).read()
