import numpy as np
import pytest

from labkit import LabkitError, imagenet


def test_index_name_synset_round_trip():
    assert imagenet.index("goose") == 99
    assert imagenet.name(99) == "goose"
    assert imagenet.synset(99) == "n01855672"
    assert imagenet.index("n01855672") == 99
    assert len(imagenet.names()) == 1000


@pytest.mark.parametrize("text", ["Goose", "  GOOSE ", "tabby cat", "Tabby_Cat", "egyptian cat", "284"])
def test_lookup_is_case_and_space_insensitive(text):
    assert imagenet.index(text) in (99, 281, 285, 284)


def test_typo_gets_a_suggestion():
    with pytest.raises(LabkitError, match=r"did you mean goose \(99\)"):
        imagenet.index("gooose")


def test_ambiguous_name_lists_the_classes():
    with pytest.raises(LabkitError, match="134.*517|517.*134"):
        imagenet.index("crane")


@pytest.mark.parametrize("bad", [1000, -1, 3.5, True])
def test_index_out_of_range_or_not_an_integer(bad):
    with pytest.raises(LabkitError):
        imagenet.index(bad)


def test_targets_one_for_all_or_one_per_image():
    assert imagenet.targets("goose", 3) == [99, 99, 99]
    assert imagenet.targets([284, "goose"], 2) == [284, 99]
    with pytest.raises(LabkitError, match="3 targets for 2 images"):
        imagenet.targets([1, 2, 3], 2)


def test_decode_top_k():
    p = np.zeros((2, 1000))
    p[0, 99], p[0, 1] = 0.7, 0.3
    p[1, 284] = 1.0
    top = imagenet.decode(p, top=2)
    assert top[0] == [(99, "goose", 0.7), (1, "goldfish", 0.3)]
    assert top[1][0][:2] == (284, "Siamese cat")
    with pytest.raises(LabkitError):
        imagenet.decode(np.zeros((1, 10)))
