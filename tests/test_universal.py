"""Lab 4: masks and the universal masked image, on a tiny model (seconds)."""

import numpy as np
import pytest

from labkit import LabkitError, attacks, masks, models, testing


@pytest.fixture(scope="module")
def tiny10():
    return testing.tiny_model(size=32, classes=10)


# -- masks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", masks.MASK_KINDS)
@pytest.mark.parametrize("k", [1, 2, 3, 7, 10, 18, 62, 64])
def test_masks_partition_the_image(kind, k):
    m = masks.masks(kind, k, 64)
    assert m.shape == (k, 64, 64)
    assert masks.check_partition(m)
    assert (m.sum(axis=0) == 1).all()  # every pixel hidden in exactly one copy
    assert (m.sum(axis=(1, 2)) > 0).all()  # no empty part
    sizes = m.sum(axis=(1, 2))
    if kind == "stripes":  # bands of equal height, give or take one pixel row
        assert sizes.max() - sizes.min() <= 64
    else:  # cells differ by at most one extra cell in a row (and rounding)
        assert sizes.max() / sizes.min() <= 2.0


def test_stripes_are_horizontal_bands_and_squares_a_grid():
    stripes = masks.part_map("stripes", 4, 8)
    assert (stripes == np.repeat(np.arange(4), 2)[:, None]).all()
    grid = masks.part_map("squares", 9, 6)  # an exact 3x3 grid of 2x2 squares
    expected = np.kron(np.arange(9).reshape(3, 3), np.ones((2, 2), int))
    assert (grid == expected).all()
    assert masks.grid_layout(10) == [3, 3, 4] and masks.grid_layout(2) == [2]
    for k in (2, 4, 7, 10, 16):  # the cells each row of the grid holds, read back from the masks
        assert masks.cells_per_row(masks.masks("squares", k, 64)) == masks.grid_layout(k)
    assert masks.cells_per_row(masks.masks("stripes", 5, 20)) == [1] * 5


def test_check_partition_rejects_overlaps_and_gaps():
    m = masks.masks("stripes", 4, 8)
    m[0, -1] = 1  # a pixel hidden twice
    with pytest.raises(LabkitError, match="do not partition"):
        masks.check_partition(m)
    with pytest.raises(LabkitError, match="do not partition"):
        masks.check_partition(np.zeros((2, 4, 4)))


def test_hidden_modes():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    m = masks.masks("stripes", 2, 8)
    hidden = m[..., None] == 1
    zero = masks.masked_copies(img, "stripes", 2, "zero")
    mean = masks.masked_copies(img, "stripes", 2, "mean")
    noise = masks.masked_copies(img, "stripes", 2, "noise", noise_seed=3)
    for c in (zero, mean, noise):  # the visible part is the image itself
        np.testing.assert_allclose(np.where(hidden, 0, c), np.where(hidden, 0, img[None]), atol=1e-4)
    assert (zero[np.broadcast_to(hidden, zero.shape)] == 0).all()
    np.testing.assert_allclose(mean[0, 0, 0], img.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(noise[0, :4], masks.noise_fill(8, 3)[:4])
    np.testing.assert_array_equal(masks.noise_fill(8, 3), masks.noise_fill(8, 3))


def test_mask_errors():
    with pytest.raises(LabkitError, match="unknown mask kind 'circles'"):
        masks.masks("circles", 2, 8)
    with pytest.raises(LabkitError, match="K = 9 stripes do not fit a 8x8 image: at most 8"):
        masks.masks("stripes", 9, 8)
    with pytest.raises(LabkitError, match="over 1000"):
        masks.check_parts("squares", 1001, 64)
    with pytest.raises(LabkitError, match="unknown hidden mode 'blur'"):
        masks.check_hidden("blur")
    assert masks.max_parts("stripes", 64) == 64 and masks.max_parts("squares", 64) == 1000


# -- optimisation ---------------------------------------------------------------------------------

def test_relative_norms_of_stripes_on_a_flat_image():
    img = np.full((64, 64, 3), 100.0, np.float32)
    r = attacks.relative_norms(img, masks.masked_copies(img, "stripes", 64, "zero"))
    assert r["l1_radius"] == pytest.approx(1 / 64) and r["relative_norm_diff"] == r["l1_radius"]
    assert r["l2_radius"] == pytest.approx(np.sqrt(1 / 64))
    assert r["l2_diameter"] == pytest.approx(np.sqrt(2 / 64))
    assert r["l2_norm_gap"] == pytest.approx(1 - np.sqrt(1 - 1 / 64))


# The random tiny net answers almost only classes 1 and 4 (``attacks.universal_image`` finds [1, 4] in a
# few Adam steps, no other pair in 100): success tests use those two; loss tests use any targets.
REACHABLE = [1, 4]


def test_sgd_step_reduces_the_loss(tiny10):
    r = attacks.universal_image(tiny10, 3, mask_kind="squares", size=16, steps=40, progress=False)
    assert r.optimizer == "sgd" and r.lr == 0.1
    assert len(r.loss) == 40 and r.steps == 40 and r.steps_to_success is None  # the cap came first
    assert (np.diff(r.loss) < 0).all()  # small gradient steps: the loss falls at every step


def test_adam_reduces_the_loss_and_stops_early(tiny10):
    r = attacks.universal_image(tiny10, targets=REACHABLE, mask_kind="squares", size=16, steps=300,
                                optimizer="adam", progress=False)
    assert r.loss[-1] < r.loss[0] - 0.05
    assert r.success == 1.0 and r.hits[-1] == 2
    assert r.steps < 300 and r.steps_to_success == r.steps
    assert len(r.loss) == r.steps + 1  # one loss per image evaluated: after 0..steps steps
    assert (r.hits[:-1] < 2).all()  # it stopped at the first image with every copy on target
    assert r.image.dtype == np.float32 and r.image.shape == (16, 16, 3)
    assert 0 <= r.image.min() and r.image.max() <= 255


def test_step_cap_from_the_environment(tiny10, monkeypatch):
    monkeypatch.setenv("LABKIT_MAX_STEPS", "2")
    r = attacks.universal_image(tiny10, 4, mask_kind="stripes", size=16, steps=300, progress=False)
    assert r.cap == 2 and r.steps == 2 and len(r.loss) == 2
    assert r.success < 1 and r.steps_to_success is None


@pytest.mark.parametrize("hidden", masks.HIDDEN_MODES)
def test_every_hidden_mode_optimises(tiny10, hidden):
    r = attacks.universal_image(tiny10, targets=REACHABLE, mask_kind="stripes", hidden=hidden, size=16, steps=30,
                                optimizer="adam", progress=False)
    assert r.loss[-1] < r.loss[0] and r.hidden == hidden
    assert r.lr == attacks.UNIVERSAL_LR["adam"]


def test_seeded_reproducibility(tiny10):
    a = attacks.universal_image(tiny10, 3, mask_kind="stripes", size=16, steps=15, seed=1, progress=False)
    b = attacks.universal_image(tiny10, 3, mask_kind="stripes", size=16, steps=15, seed=1, progress=False)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert a.targets == b.targets
    c = attacks.universal_image(tiny10, 3, mask_kind="stripes", size=16, steps=15, seed=2, progress=False)
    assert not np.array_equal(a.image, c.image)
    assert attacks.universal_targets(5, seed=1) == attacks.universal_targets(5, seed=1)
    assert attacks.universal_targets(5, seed=1) != attacks.universal_targets(5, seed=2)
    assert len(set(attacks.universal_targets(1000, seed=0))) == 1000


def test_targets_by_name_and_check_of_a_saved_image(tiny10, tmp_path):
    r = attacks.universal_image(tiny10, targets=["goldfish", 4], mask_kind="stripes", size=16, steps=300,
                                optimizer="adam", progress=False)
    assert r.targets == REACHABLE and r.success == 1.0
    file = attacks.save_universal(r, tmp_path, "u_k2")
    saved = np.load(tmp_path / file)
    np.testing.assert_array_equal(saved, r.image)
    df = attacks.reclassify_universal(tiny10, tmp_path / file, ["goldfish", "hammerhead"], "stripes", "zero")
    assert list(df.columns) == ["part", "target", "target_name", "predicted", "predicted_name", "probability",
                                "target_probability", "hit"]
    assert df.hit.all() and df.predicted.tolist() == REACHABLE
    np.testing.assert_allclose(df.probability, r.check.probability, atol=1e-6)
    row = r.row("tiny", file)
    assert row["K"] == 2 and row["targets"] == REACHABLE and row["file"] == file and row["success"] == 1.0
    assert row["steps"] == r.steps and 0 < row["relative_norm_diff"] < 1
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 17, "mask_kind": "stripes", "size": 16}, "17 stripes do not fit a 16x16 image"),
    ({"k": 1001, "classes": 1000}, "over 1000"),
    ({"k": 2, "mask_kind": "rings"}, "unknown mask kind"),
    ({"k": 2, "hidden": "grey"}, "unknown hidden mode"),
    ({"targets": ["goose", 99]}, "must be distinct.*99 repeats 'goose' \\(class 99\\)"),
    ({"k": 3, "targets": [1, 2]}, "got 2 target classes for K = 3"),
    ({"k": 11, "classes": 10}, "only 10 classes"),
    ({"k": 1}, "K >= 2"),
    ({"k": 2, "optimizer": "rmsprop"}, "unknown optimiser"),
    ({"k": 2, "learning_rate": -1.0}, "learning_rate must be a positive number"),
    ({"k": 2, "steps": 0}, "steps must be an integer >= 1"),
    ({"targets": ["gooose", "tench"]}, "did you mean goose"),
])
def test_bad_parameters_fail_early(kwargs, match):
    with pytest.raises(LabkitError, match=match):
        attacks.check_universal_params(**kwargs)


def test_bad_parameters_fail_before_any_work(tiny10, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("work started")

    from labkit.attacks import universal

    monkeypatch.setattr(universal, "universal_step", boom)
    with pytest.raises(LabkitError, match="distinct"):
        attacks.universal_image(tiny10, targets=[1, 1], size=16)
    with pytest.raises(LabkitError, match="at most 16"):
        attacks.universal_image(tiny10, 40, mask_kind="stripes", size=16)


def test_check_universal_rejects_bad_images(tiny10, tmp_path):
    with pytest.raises(LabkitError, match="not found"):
        attacks.reclassify_universal(tiny10, tmp_path / "none.npy", [0, 1], "stripes")
    with pytest.raises(LabkitError, match="square RGB"):
        attacks.reclassify_universal(tiny10, np.zeros((8, 6, 3)), [0, 1], "stripes")
    with pytest.raises(LabkitError, match="0..255"):
        attacks.reclassify_universal(tiny10, np.full((8, 8, 3), 300.0), [0, 1], "stripes")


@pytest.mark.parametrize("profile", ["quick", "standard", "full"])
def test_lab_profiles_are_valid(profile):
    from labkit import labs

    cfg = labs.get(4).settings(profile)
    for k in cfg["k_values"]:
        for kind in cfg["mask_kinds"]:
            attacks.check_universal_params(k, mask_kind=kind, optimizer=cfg["optimizer"], steps=cfg["step_cap"])
    assert set(cfg["compare_k"]) <= set(cfg["k_values"]) and set(cfg["compare_kinds"]) <= set(cfg["mask_kinds"])
    for name in cfg["compare_models"] + cfg["transfer_models"]:
        models.spec(name)
