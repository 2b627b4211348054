"""Grading on a Dask cluster: a worker killed mid-batch loses nothing, each submission is graded exactly once,
grades.csv is always whole, and a rerun skips what is already graded."""

import csv
import hashlib
import os
import signal
import time
from functools import partial
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from labkit.errors import LabkitError  # noqa: E402
from labkit.grading import cluster  # noqa: E402

SLOW = "s10"  # its first attempt runs long: the test kills its worker mid-task


def fake_grade(job: cluster.Job, *, log: str) -> dict:
    """A tiny grading task: 0.2 s, then a hash of the notebook. Every attempt (run) leaves a file in ``log``."""
    attempt = len(list(Path(log).glob(f"{job.student}.*"))) + 1
    Path(log, f"{job.student}.{os.getpid()}.{attempt}.running").write_text(str(os.getpid()))
    time.sleep(30 if job.student == SLOW and attempt == 1 else 0.2)
    digest = hashlib.sha256(Path(job.path).read_bytes()).hexdigest()[:12]
    if job.student == "s13":
        raise ValueError("a bug in the checks")
    return {"status": "ok", "total": int(digest, 16) % 8, "digest": digest, "pid": os.getpid()}


def attempts(log: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in log.iterdir():
        counts[f.name.split(".")[0]] = counts.get(f.name.split(".")[0], 0) + 1
    return counts


@pytest.fixture
def batch(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for i in range(50):
        (subs / f"s{i:02d}.ipynb").write_text(f'{{"cells": [], "n": {i}}}')
    jobs = cluster.make_jobs(((p.stem, p) for p in sorted(subs.glob("*.ipynb"))), lab=2, checks="v1")
    log = tmp_path / "attempts"
    log.mkdir()
    return jobs, tmp_path / "out", log


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_worker_killed_mid_batch_loses_nothing_and_nothing_counts_twice(batch):
    jobs, out, log = batch
    seen, killed = [], None
    for graded in cluster.grade_on_cluster(jobs, partial(fake_grade, log=str(log)), out, n_workers=2):
        seen.append(graded.job.student)
        rows = read_csv(out / "grades.csv")  # whole after every completion
        assert len(rows) == len(seen) and {r["student"] for r in rows} == set(seen)
        if killed is None:  # kill the worker that runs SLOW's first attempt, while it runs
            running = list(log.glob(f"{SLOW}.*.1.running"))
            deadline = time.time() + 20
            while not running and time.time() < deadline:
                time.sleep(0.05)
                running = list(log.glob(f"{SLOW}.*.1.running"))
            killed = int(running[0].read_text())
            os.kill(killed, signal.SIGKILL)
    assert sorted(seen) == sorted(j.student for j in jobs)  # each exactly once
    counts = attempts(log)
    assert counts[SLOW] >= 2  # the killed attempt, and the re-run elsewhere
    rows = read_csv(out / "grades.csv")
    assert [r["student"] for r in rows] == sorted(j.student for j in jobs)
    by = {r["student"]: r for r in rows}
    assert by[SLOW]["status"] == "ok" and int(by[SLOW]["pid"]) != killed
    assert by["s13"]["status"] == "error" and "a bug in the checks" in by["s13"]["message"]
    for r in rows:
        if r["student"] != "s13":
            digest = hashlib.sha256(Path(out.parent / "submissions" / f"{r['student']}.ipynb").read_bytes())
            assert r["digest"] == digest.hexdigest()[:12] and int(r["total"]) == int(r["digest"], 16) % 8
    # one verdict file per content key, none half-written, none for the error
    cached = sorted(p.stem for p in (out / ".cache").glob("*.json"))
    assert cached == sorted(j.key for j in jobs if j.student != "s13")
    assert not list((out / ".cache").glob(".*"))

    # a rerun skips every graded submission (no cluster, no attempt) and retries the one that failed
    before = sum(attempts(log).values())
    again = cluster.grade_all([j for j in jobs if j.student != "s13"], partial(fake_grade, log=str(log)), out)
    assert all(g.cached for g in again.values()) and len(again) == 49
    assert sum(attempts(log).values()) == before
    strip = [{k: v for k, v in r.items() if k != "message"} for r in rows if r["student"] != "s13"]
    assert read_csv(out / "grades.csv") == strip


def test_regrade_runs_everything_again(batch):
    """On a cluster of your own (here an in-process one, passed as a Client): it is used, and left running."""
    from distributed import Client, LocalCluster

    jobs, out, log = batch
    few = jobs[:6]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as lc, \
            Client(lc) as client:
        first = cluster.grade_all(few, partial(fake_grade, log=str(log)), out, scheduler=client)
        assert not any(g.cached for g in first.values()) and sum(attempts(log).values()) == 6
        assert cluster.grade_all(few, partial(fake_grade, log=str(log)), out, scheduler=client)["s00"].cached
        again = cluster.grade_all(few, partial(fake_grade, log=str(log)), out, regrade=True, scheduler=client)
        assert client.status == "running"
    assert not any(g.cached for g in again.values())
    assert all(n == 2 for n in attempts(log).values())
    assert [r["student"] for r in read_csv(out / "grades.csv")] == [j.student for j in few]


def test_keys_follow_content_lab_checks_and_options(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_text("one")
    key = cluster.job_key(nb, lab=1, checks="v1")
    assert key == cluster.job_key(nb, lab=1, checks="v1")
    assert key != cluster.job_key(nb, lab=2, checks="v1")
    assert key != cluster.job_key(nb, lab=1, checks="v2")
    assert key != cluster.job_key(nb, lab=1, checks="v1", options={"timeout": 60})
    nb.write_text("two")
    assert key != cluster.job_key(nb, lab=1, checks="v1")
    assert key != cluster.job_key(nb, lab=1, checks="v1", student="bob")  # each student's hidden cases differ
    assert len(cluster.checks_version()) == 16
    with pytest.raises(LabkitError, match="same student"):
        cluster.make_jobs([("a", nb), ("a", nb)], lab=1)


def test_a_cache_entry_under_the_wrong_key_is_ignored(tmp_path):
    cache = cluster.ResultCache(tmp_path)
    cache.put("abc", {"status": "ok"})
    assert cache.get("abc") == {"status": "ok"}
    (cache.dir / "def.json").write_text((cache.dir / "abc.json").read_text())
    (cache.dir / "bad.json").write_text("{not json")
    assert cache.get("def") is None and cache.get("bad") is None and cache.get("missing") is None


def test_worker_index_and_gpu_env():
    assert cluster.worker_index(3) == 3
    assert cluster.worker_index("SLURMCluster-7-1") == 1
    assert cluster.worker_index("tcp://10.0.0.5:40000-2") == 2
    assert 0 <= cluster.worker_index("no-digits") < 1000
    assert cluster.worker_index() == 0  # not in a worker


def deadly_grade(job: cluster.Job) -> dict:
    """A submission that takes its worker down every time (as a machine's OOM killer would)."""
    if job.student == "killer":
        os._exit(1)
    return {"status": "ok", "total": 1}


def test_a_submission_that_keeps_killing_workers_is_given_up_not_cached(tmp_path):
    """allowed_failures=0: the first death gives up on the killer, and only on it (the others were queued on
    the scheduler, not held by the dying worker)."""
    names = ["calm1", "calm2", "killer", "calm3", "calm4"]
    for name in names:
        (tmp_path / f"{name}.ipynb").write_text(name)
    jobs = cluster.make_jobs([(n, tmp_path / f"{n}.ipynb") for n in names], lab=1, checks="v1")
    out = tmp_path / "out"
    graded = cluster.grade_all(jobs, deadly_grade, out, n_workers=1, allowed_failures=0)
    assert all(graded[n].result == {"status": "ok", "total": 1} for n in names if n != "killer")
    assert graded["killer"].result["status"] == "error" and graded["killer"].attempts_hint == "KilledWorker"
    assert "worker died 1 times" in graded["killer"].result["message"]
    cached = sorted(p.stem for p in (out / ".cache").glob("*.json"))
    assert cached == sorted(j.key for j in jobs if j.student != "killer")
    assert [r["student"] for r in read_csv(out / "grades.csv")] == sorted(names)
