"""AtomicTableDataset: a table written whole or not at all; a damaged file is named with what to do."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError

from ovmlr.datasets import AtomicTableDataset

TABLE = pd.DataFrame({"path": ["a.png", "b.png"], "score": [0.25, 0.5]})


@pytest.mark.parametrize("name", ["predictions.parquet", "predictions.csv"])
def test_round_trip(tmp_path, name) -> None:
    dataset = AtomicTableDataset(str(tmp_path / "out" / name), save_args={"index": False})
    dataset.save(TABLE)
    pd.testing.assert_frame_equal(dataset.load(), TABLE)
    assert dataset.exists() and [p.name for p in (tmp_path / "out").iterdir()] == [name]


def test_a_run_killed_while_writing_leaves_the_previous_table(tmp_path, monkeypatch) -> None:
    dataset = AtomicTableDataset(str(tmp_path / "predictions.parquet"))
    dataset.save(TABLE)

    def half_then_die(self, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a table")
        raise KeyboardInterrupt  # the run is killed mid-write

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        dataset.save(TABLE.head(1))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(dataset.load(), TABLE)  # the previous complete table, nothing half-written
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.parquet"]


def test_a_damaged_table_is_named_with_what_to_do(tmp_path) -> None:
    path = tmp_path / "predictions.parquet"
    TABLE.to_parquet(path)
    path.write_bytes(path.read_bytes()[:-30])  # half-written by another tool, or damaged on disk
    with pytest.raises(DatasetError, match="predictions.parquet' cannot be read .*delete it and rerun"):
        AtomicTableDataset(str(path)).load()


def test_only_parquet_and_csv(tmp_path) -> None:
    with pytest.raises(DatasetError, match=r"must end in one of \['.csv', '.parquet'\]"):
        AtomicTableDataset(str(tmp_path / "table.xlsx"))
