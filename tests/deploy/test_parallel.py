"""Many files at once: local worker processes and a dask LocalCluster give outputs identical
to one process; a bad file among them is reported and skipped (exit 4), the others written."""

from __future__ import annotations

import logging
import warnings

import pytest
from tests.deploy.conftest import assert_same_tables
from tests.numerical.toys import make_toy

from jetcalib.cli import main
from jetcalib.dnn.toys import toy_jets
from jetcalib.errors import InputError
from jetcalib.io import write_table


def _inputs(tmp_path, make, n_good=3, rows=1500):
    files = []
    for i in range(n_good):
        p = tmp_path / f"in{i}.parquet"
        write_table(p, make(rows, seed=30 + i))
        files.append(p)
    bad = make(200, seed=99)
    del bad["m_reco"]
    write_table(tmp_path / "nomass.parquet", bad)
    return [*files[:1], tmp_path / "nomass.parquet", *files[1:]]


def _run(capsys, *argv):
    code = main(["calibrate", *map(str, argv)])
    return code, capsys.readouterr()


def test_local_workers_identical_to_one_process(numcal_path, tmp_path, capsys):
    inputs = _inputs(tmp_path, make_toy)
    code1, _ = _run(capsys, numcal_path, *inputs, "-o", tmp_path / "one", "--workers", "1")
    code2, res = _run(capsys, numcal_path, *inputs, "-o", tmp_path / "two", "--workers", "2")
    assert code1 == code2 == 4
    assert "nomass.parquet" in res.err
    assert "missing required column m_reco" in res.err
    assert "total: 4,500 jets in 3 files" in res.out
    assert "peak memory per worker" in res.out
    names = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert names == ["in0.parquet", "in1.parquet", "in2.parquet"]
    for name in names:
        assert_same_tables(tmp_path / "one" / name, tmp_path / "two" / name)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        # only at cluster start-up/shutdown, from dask's own internals (not jetcalib's code)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(distributed|tornado|dask)\.")
        warnings.filterwarnings("ignore", message=r".*[Pp]ort .* is already in use", category=UserWarning)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=logging.ERROR) as c:
            yield c


def test_dask_cluster_identical_to_one_process(cluster, model_dir, tmp_path, capsys):
    inputs = _inputs(tmp_path, toy_jets)
    code1, _ = _run(capsys, model_dir, *inputs, "-o", tmp_path / "one")
    code2, res = _run(capsys, model_dir, *inputs, "-o", tmp_path / "dask",
                      "--scheduler", cluster.scheduler_address)
    assert code1 == code2 == 4, res.err
    assert "nomass.parquet" in res.err
    assert "(skipped)" in res.err
    assert "total: 4,500 jets in 3 files" in res.out
    names = sorted(p.name for p in (tmp_path / "dask").iterdir())
    assert names == ["in0.parquet", "in1.parquet", "in2.parquet"]
    for name in names:
        assert_same_tables(tmp_path / "one" / name, tmp_path / "dask" / name)


def test_unreachable_scheduler(numcal_path, tmp_path):
    from jetcalib.deploy import calibrate_many, load

    src = tmp_path / "a.parquet"
    write_table(src, make_toy(100, seed=1))
    runs = calibrate_many(load(numcal_path), [(src, tmp_path / "o.parquet")],
                          scheduler="tcp://127.0.0.1:9", connect_timeout_s=0.5)
    with pytest.raises(InputError, match=r"cannot reach the dask scheduler at tcp://127\.0\.0\.1:9"):
        next(runs)
    assert not (tmp_path / "o.parquet").exists()
