"""API workers starting together on a new store all start: they race to create its tables, and one that lost the
race used to fail its start-up ("table ... already exists"), which stopped `bindaas serve --workers 2`."""

from __future__ import annotations

import multiprocessing
import sqlite3

from sqlalchemy import inspect

from bindaas.store.database import SQLITE_PAGE_BYTES, make_engine
from bindaas.store.models import Base


def _open_store(url: str) -> None:
    make_engine(url).dispose()


def test_processes_opening_a_new_store_together_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")  # forked, they start within microseconds of each other
    failures = 0
    for attempt in range(30):
        url = f"sqlite:///{tmp_path / f'store{attempt}.db'}"
        processes = [context.Process(target=_open_store, args=(url,)) for _ in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        failures += sum(process.exitcode != 0 for process in processes)
    assert failures == 0, f"{failures} of 90 processes failed to open a new store"
    engine = make_engine(f"sqlite:///{tmp_path / 'store0.db'}")
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables)
    engine.dispose()


def test_a_new_store_commits_through_its_log_with_a_sync_in_8_kb_pages_and_an_older_store_keeps_its_pages(tmp_path):
    """Acknowledged records must survive power loss (WAL, synchronous FULL); a new store's pages are 8 KB (a record
    is ~27 KB); a store made before that keeps its 4 KB pages and opens as before."""
    def pragmas(url: str) -> tuple:
        engine = make_engine(url)
        with engine.connect() as conn:
            found = tuple(conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                          for name in ("journal_mode", "synchronous", "page_size"))
            tables = set(inspect(conn).get_table_names())
        engine.dispose()
        assert tables >= set(Base.metadata.tables)
        return found

    assert pragmas(f"sqlite:///{tmp_path / 'new.db'}") == ("wal", 2, SQLITE_PAGE_BYTES) == ("wal", 2, 8192)
    older = sqlite3.connect(tmp_path / "older.db")
    older.executescript("PRAGMA page_size=4096; CREATE TABLE kept (a INTEGER); INSERT INTO kept VALUES (1);")
    older.close()
    assert pragmas(f"sqlite:///{tmp_path / 'older.db'}") == ("wal", 2, 4096)


# ``records`` as a store made before a record's body had a table of its own was laid out (SQLAlchemy's DDL then).
_ONE_ROW_RECORDS = """
CREATE TABLE batches (id INTEGER NOT NULL PRIMARY KEY, kind VARCHAR(16) NOT NULL, root VARCHAR(66) NOT NULL UNIQUE,
    size INTEGER NOT NULL, members JSON, status VARCHAR(16) NOT NULL, created_at DATETIME NOT NULL, sealed_at DATETIME,
    tx_hash VARCHAR(66), block_number BIGINT, block_time BIGINT, gas_used BIGINT, anchored_at DATETIME,
    final_at DATETIME);
CREATE TABLE records (seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, id VARCHAR(66) NOT NULL UNIQUE,
    patient_id VARCHAR(66) NOT NULL, status VARCHAR(16) NOT NULL, batch_id INTEGER REFERENCES batches (id),
    leaf_index INTEGER, accepted_at DATETIME NOT NULL, accepted_block BIGINT NOT NULL, chain_id BIGINT NOT NULL,
    registry VARCHAR(42) NOT NULL, salt BLOB NOT NULL, proof JSON, payload BLOB NOT NULL, service_key BLOB NOT NULL,
    owner_public_key BLOB NOT NULL, owner_signature BLOB NOT NULL, endorsements JSON NOT NULL);
CREATE INDEX ix_records_patient_id ON records (patient_id);
CREATE INDEX ix_records_unbatched ON records (batch_id, seq);
"""


def _one_row_record(seq: int) -> tuple:
    return (f"0x{seq:064x}", "0x" + "ab" * 32, "anchored" if seq == 1 else "accepted", 1 if seq == 1 else None,
            0 if seq == 1 else None, "2026-11-30 10:00:00.000000", 40 + seq, 31337, "0x" + "cd" * 20, bytes([seq]) * 32,
            '[{"hash": "0x00", "left": true}]' if seq == 1 else None, b"sealed bundle %d" % seq, b"wrapped key",
            bytes([seq]) * 1952, bytes([seq]) * 3309, '[{"key_id": "0x01", "signature": "c2ln"}]')


def test_a_store_made_while_a_record_was_one_row_opens_with_every_record_whole(tmp_path):
    """Records stored before their bodies moved to ``record_bodies`` are all there afterwards, with every column,
    even when the server's workers open the store at once; the store then takes new records as a new one does."""
    from bindaas.store import repository
    from bindaas.store.database import make_sessionmaker
    from bindaas.store.models import NewRecord

    path = tmp_path / "one-row.db"
    older = sqlite3.connect(path)
    older.executescript(_ONE_ROW_RECORDS)
    older.execute("INSERT INTO batches VALUES (1, 'records', '0x' || hex(randomblob(32)), 1, NULL, 'anchored', "
                  "'2026-11-30 10:00:01', NULL, NULL, 7, 1, 1, NULL, NULL)")
    older.executemany(f"INSERT INTO records VALUES (NULL, {', '.join('?' * 16)})", [_one_row_record(s) for s in (1, 2)])
    older.commit()
    older.close()

    url = f"sqlite:///{path}"
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_open_store, args=(url,)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0, 0, 0]

    engine = make_engine(url)
    assert "payload" not in {column["name"] for column in inspect(engine).get_columns("records")}
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        for seq in (1, 2):
            expected = _one_row_record(seq)
            row = repository.get_record(session, record_id=expected[0])
            assert row is not None and row.seq == seq
            assert (row.status, row.batch_id, row.accepted_block, row.registry_address, bytes(row.salt)) == \
                (expected[2], expected[3], expected[6], expected[8], expected[9])
            assert (bytes(row.payload), bytes(row.owner_public_key), bytes(row.owner_signature)) == \
                (expected[11], expected[13], expected[14])
            assert row.endorsements == [{"key_id": "0x01", "signature": "c2ln"}]
        assert row.proof is None and repository.count_by_status(session) == {"anchored": 1, "accepted": 1}
        new = NewRecord(id="0x" + "ef" * 32, patient_id="0x" + "ab" * 32, payload=b"new", service_key=b"k",
                        salt=b"s" * 32, owner_public_key=b"o", owner_signature=b"x", endorsements=[], chain_id=31337,
                        registry_address="0x" + "cd" * 20, accepted_at=repository.now(), accepted_block=50)
        assert repository.insert_records(session, rows=[new]) == [new]
        assert bytes(repository.get_record(session, record_id=new.id).payload) == b"new"
        assert [row.seq for row in repository.unbatched_keys(session, limit=10)] == [2, 3]
    engine.dispose()
