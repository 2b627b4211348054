"""The exercises' checks: the master notebooks' solutions pass them, a stub is "not done", and one planted bug
per exercise fails that exercise and no other (the grader's hidden test and the student's self-check)."""

import numpy as np
import pytest
from planted import BUGS, functions

from labkit import labs, student

CODING = [e.name for lab in labs.LABS.values() for e in lab.exercises if not e.written]
SEED = 20261130


def hidden(name: str, fns: dict) -> tuple[bool, str]:
    """The grader's three steps, in one process: unseen inputs, the student's run, the comparison."""
    checker = labs.exercise(name).checker
    inputs = checker.inputs(SEED)
    return checker.grade(inputs, checker.run(fns, inputs))


def test_every_lab_has_three_coding_and_two_written_exercises():
    for lab in labs.LABS.values():
        assert sum(not e.written for e in lab.exercises) >= 3 and sum(e.written for e in lab.exercises) >= 2
        assert all(e.name.startswith(f"{lab.number}.") for e in lab.exercises)
    assert sorted(BUGS) == sorted(CODING)


@pytest.mark.parametrize("name", CODING)
def test_the_reference_solution_passes(name):
    fns = functions(name)
    assert labs.exercise(name).checker.public(fns) == []
    assert student.status(labs.exercise(name), fns).state == student.PASSES
    assert hidden(name, fns) == (True, "") or hidden(name, fns)[0]


@pytest.mark.parametrize("name", CODING)
def test_a_planted_bug_fails_its_exercise_only(name, capsys):
    buggy = functions(name, bug=True)
    passed, message = hidden(name, buggy)
    assert not passed and message
    assert student.status(labs.exercise(name), buggy).state == student.FAILS
    assert student.check(name, buggy) is None  # nothing echoed under the cell
    said = capsys.readouterr().out
    assert f"exercise {name}:" in said and "public checks pass" not in said
    # the other exercises of its lab, on their references, are not affected
    lab = labs.get(labs.exercise(name).lab_number)
    for other in lab.exercises:
        if not other.written and other.name != name:
            assert hidden(other.name, functions(other.name))[0], other.name


def test_the_messages_never_show_a_hidden_input_or_an_expected_value():
    for name in CODING:
        checker = labs.exercise(name).checker
        inputs = checker.inputs(SEED)
        _, message = checker.grade(inputs, checker.run(functions(name, bug=True), inputs))
        numbers = {f"{v:g}" for a in inputs.values() for v in np.ravel(a)[:50] if np.ndim(a) <= 1 and v > 9}
        assert not any(n in message for n in numbers), (name, message)
        assert "expected" not in message.lower(), (name, message)


def test_a_stub_is_not_done(capsys):
    def stripe_masks(k, size):
        raise NotImplementedError("exercise 4.1 is not done yet")

    student.check("4.1", {"stripe_masks": stripe_masks})
    assert "not done yet" in capsys.readouterr().out
    assert student.status(labs.exercise("4.1"), {"stripe_masks": stripe_masks}).state == student.NOT_DONE
    student.check("4.1", {})
    assert "no function stripe_masks" in capsys.readouterr().out
    assert student.status(labs.exercise("4.1"), {}).state == student.NOT_DONE


def test_a_written_question_has_nothing_to_check(capsys):
    student.check("4.4", {})
    assert "written answer" in capsys.readouterr().out


def test_an_unknown_exercise_is_a_clear_error():
    with pytest.raises(labkit_error()):
        labs.exercise("4.9")
    with pytest.raises(labkit_error()):
        labs.exercise("x")


def labkit_error():
    from labkit import LabkitError

    return LabkitError


def test_a_step_that_needs_an_undone_exercise_is_skipped_and_the_next_ones_too(capsys):
    def masked_copies_loss(model, image, masks, targets):
        raise NotImplementedError("exercise 4.3 is not done yet")

    notebook = {"masked_copies_loss": masked_copies_loss}
    with student.exercise("4.3", notebook):
        masked_copies_loss(None, None, None, None)
    with student.exercise("4.3", notebook):
        undefined_result  # noqa: B018, F821 - what a later cell meets when the step before was skipped
    assert capsys.readouterr().out.count("exercise 4.3: not done yet: this step is skipped") == 2
    with student.exercise("4.3", {}):
        raise NameError("name 'masked_copies_loss' is not defined")
    assert "exercise 4.3: no function masked_copies_loss: this step is skipped" in capsys.readouterr().out


def test_once_the_exercise_is_written_its_errors_show_even_after_an_unfilled_run(capsys):
    def stub(k, size):
        raise NotImplementedError("exercise 4.1 is not done yet")

    notebook = {"stripe_masks": stub}
    with student.exercise("4.1", notebook):  # the unfilled notebook's first run
        stub(2, 8)

    def stripe_masks(k, size):  # the student writes it, with a typo, and runs its cell again
        return np.zeros((k, size, sise))  # noqa: F821

    notebook["stripe_masks"] = stripe_masks
    with pytest.raises(NameError, match="sise"):
        with student.exercise("4.1", notebook):
            stripe_masks(2, 8)
    with pytest.raises(ValueError):  # and any other error of a done exercise
        with student.exercise("4.1", notebook):
            raise ValueError("a bug in the student's code")


def test_a_class_exercise_is_not_done_while_a_method_holds_the_stub():
    class RectifiedBackpropagation:
        def __call__(self, model):
            raise NotImplementedError("exercise 1.2 is not done yet")

    assert student.not_done(labs.exercise("1.2"), {"RectifiedBackpropagation": RectifiedBackpropagation})

    class Done:
        def __call__(self, model):
            return model

    assert not student.not_done(labs.exercise("1.2"), {"RectifiedBackpropagation": Done})


@pytest.mark.parametrize("rows, fix", [(((0, 5), (4, 8)), (0, 4, 0)), (((0, 3), (4, 8)), (0, 3, 1))],
                         ids=["overlap", "gap"])
def test_masks_that_overlap_or_leave_a_gap_are_no_partition(rows, fix):
    from labkit.exercises.universal_masked_image import partition_problems, stripe_problems

    m = np.zeros((2, 8, 8))
    for i, (top, bottom) in enumerate(rows):
        m[i, top:bottom] = 1  # whole-row stripes of near-equal heights, in order: only the partition is wrong
    assert partition_problems(m, 2, 8) == stripe_problems(m, 2, 8) != []
    assert "every pixel hidden in exactly one mask" in partition_problems(m, 2, 8)[0]
    mask, row, value = fix
    m[mask, row] = value  # the same stripes, made a partition
    assert partition_problems(m, 2, 8) == []
