"""scripts/check_mutations.py plants each bug by replacing one exact text: every text must still be there once,
or the script stops at that mutation and plants none after it."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_mutations.py"
spec = importlib.util.spec_from_file_location("check_mutations", SCRIPT)
mutations = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutations)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("repo")
    mutations.copy_repo(dest)
    return dest


@pytest.mark.parametrize("name", list(mutations.MUTATIONS))
def test_every_mutation_still_finds_its_text(name, copy):
    _, apply = mutations.MUTATIONS[name]
    apply(copy)  # SystemExit names the text it could not find
