"""The spool file format and its locking (no server needed)."""

from pathlib import Path

from mltrail.spool import (
    SpoolWriter,
    batch_record,
    claim,
    read_records,
    rewrite,
    spool_files,
    status_record,
)

RUN = "00000000-0000-0000-0000-00000000abcd"


def batch(points: int) -> dict[str, object]:
    metrics = [{"key": "loss", "value": 0.5, "step": s, "timestamp": 1} for s in range(points)]
    return batch_record(RUN, {"metrics": metrics}, points)


class TestWriter:
    def test_records_round_trip_and_hold_the_run_id(self, tmp_path: Path) -> None:
        writer = SpoolWriter(tmp_path, RUN)
        writer.append([batch(3), status_record(RUN, {"status": "completed"})])
        writer.close()
        [path] = spool_files(tmp_path)
        assert path.name.startswith(RUN)
        records, bad = read_records(path.read_bytes())
        assert bad == 0
        assert [r.run_id for r in records] == [RUN, RUN]
        assert records[0].points == 3
        assert records[1].status == {"status": "completed"}

    def test_a_resend_is_byte_identical(self, tmp_path: Path) -> None:
        writer = SpoolWriter(tmp_path, RUN)
        record = batch_record(
            RUN, {"metrics": [{"key": "x", "value": 0.1, "step": 1, "timestamp": 1764000000123}]}, 1
        )
        writer.append([record])
        writer.close()
        [read], _ = read_records(spool_files(tmp_path)[0].read_bytes())
        assert (
            read.body == b'{"metrics":[{"key":"x","value":0.1,"step":1,"timestamp":1764000000123}]}'
        )

    def test_a_torn_last_line_is_skipped(self, tmp_path: Path) -> None:
        writer = SpoolWriter(tmp_path, RUN)
        writer.append([batch(2)])
        writer.close()
        [path] = spool_files(tmp_path)
        with path.open("ab") as handle:
            handle.write(b'{"v":1,"run_id":"' + RUN.encode() + b'","poi')
        records, bad = read_records(path.read_bytes())
        assert (len(records), bad) == (1, 1)


class TestLocking:
    def test_a_file_being_written_cannot_be_claimed(self, tmp_path: Path) -> None:
        writer = SpoolWriter(tmp_path, RUN)
        writer.append([batch(1)])
        [path] = spool_files(tmp_path)
        with claim(path) as handle:
            assert handle is None
        writer.close()
        with claim(path) as handle:
            assert handle is not None

    def test_rewrite_keeps_only_what_is_left(self, tmp_path: Path) -> None:
        writer = SpoolWriter(tmp_path, RUN)
        writer.append([batch(1), batch(2), batch(3)])
        writer.close()
        [path] = spool_files(tmp_path)
        records, _ = read_records(path.read_bytes())
        rewrite(path, records[1:])
        left, _ = read_records(path.read_bytes())
        assert [r.points for r in left] == [2, 3]
        rewrite(path, [])
        assert not path.exists()
