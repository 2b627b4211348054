"""The grading checks of labs 1, 3 and 4 (lab 2's run end to end in test_grading.py), on recorded results and, for
lab 4, a universal image re-checked on a tiny model: shown to the student, worth nothing but the run (with the
student's work in it); each lab's checks read results it declares."""

import json

import numpy as np
import pytest

from labkit import attacks, labs, testing
from labkit.grading.checks import CheckResult, run_checks
from labkit.labs import Context, attention_maps, universal_masked_image


@pytest.mark.parametrize("lab", list(labs.LABS.values()), ids=lambda lab: lab.name)
def test_each_lab_checks_results_it_declares(lab):
    read = {k for c in lab.checks for k in getattr(c.run, "keys", ())}
    assert read and read <= set(lab.result_keys), read - set(lab.result_keys)
    assert [c.name for c in lab.checks][:2] == ["runs", "results"]


def context(tmp_path, lab, status="ok", done=True, **recorded):
    (tmp_path / "results.json").write_text(json.dumps({"lab": lab, **recorded}))
    declared = labs.get(lab)
    exercises = [CheckResult(e.name, 0, e.points, False, "", done=done) for e in declared.exercises if not e.written]
    return Context(lab=declared, status=status, root=tmp_path, out_dir=".", exercises=exercises)


def points(results) -> dict:
    return {r.name: (r.points, r.message) for r in results}


def test_lab1_lists_the_methods_not_computed(tmp_path):
    table = {"deletion_auc": {m: 0.1 for m in attention_maps.REQUIRED_METHODS}}
    assert sum(r.points for r in run_checks(context(tmp_path, 1, faithfulness=table))) == 2  # runs; the rest: 0
    del table["deletion_auc"]["gradcam++"], table["deletion_auc"]["smoothgrad"]
    got = points(run_checks(context(tmp_path, 1, faithfulness=table)))
    assert got["methods"] == (0, "methods not computed: smoothgrad, gradcam++")
    assert got["runs"][0] == 2 and got["results"] == (0, "")  # passed, worth nothing: it could be forged
    undone = points(run_checks(context(tmp_path, 1, done=False, faithfulness=table)))
    assert undone["runs"][0] == 0 and "1.1, 1.2, 1.3 are not done" in undone["runs"][1]  # a run earns nothing alone


def test_lab3_numbers_must_be_probabilities(tmp_path):
    confidence = {"seed002": {"lite0": {"count": 1000.0, "mean": 0.14, "max": 0.29}}}
    good = context(tmp_path, 3, confidence=confidence, auroc={"seed002": {"lite0": 0.91}})
    assert sum(r.points for r in run_checks(good)) == 2 and all(r.passed for r in run_checks(good))
    confidence["seed002"]["lite0"]["max"] = 1.7
    bad = points(run_checks(context(tmp_path, 3, status="failed", confidence=confidence, auroc={})))
    assert bad["confidence"][0] == 0 and "[0, 1]" in bad["confidence"][1]
    assert bad["runs"] == (0, "the notebook did not run to the end (status: failed)")
    assert bad["results"] == (0, "key results not recorded: auroc")


def test_lab4_recheck_uses_the_submitted_image_not_the_claim(tmp_path, monkeypatch):
    tiny = testing.tiny_model(size=32, classes=10)
    monkeypatch.setattr(universal_masked_image, "model", lambda name: tiny)
    r = attacks.universal_image(tiny, targets=[1, 4], mask_kind="stripes", size=16, steps=300, optimizer="adam",
                                progress=False)
    assert r.success == 1.0
    row = r.row("tiny", attacks.save_universal(r, tmp_path, "u_k2"))
    good = {c.name: c for c in run_checks(context(tmp_path, 4, universal=[row]))}
    assert good["universal"].passed and good["universal"].points == 0  # labkit's optimiser's work: shown, worth 0
    np.save(tmp_path / row["file"], np.zeros_like(r.image))  # resubmitted: a blank image, same claim of success
    got = points(run_checks(context(tmp_path, 4, universal=[row])))
    assert "miss their target when the grader re-classifies them" in got["universal"][1]
    escaping = dict(row, file="../../etc/passwd")  # files outside the student's folder are not read
    got = points(run_checks(context(tmp_path, 4, universal=[escaping])))
    assert got["universal"] == (0, "universal image file '../../etc/passwd' is missing or not a plain array")
