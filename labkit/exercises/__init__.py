"""Exercises: what a student writes in a lab notebook, and how it is checked. Each lab declares its exercises in
its module in ``labkit.labs``; the notebook's side (``check``, ``exercise``) is ``labkit.student``; the grader's,
``labkit.grading.cleanroom``.

Where each idea lives: ``_spec`` (``Exercise``, ``Checker``), ``harness`` (how a student's functions are called
on a case, and the clean room's runner: no answers in it), ``source`` (one exercise's code cut out of a
notebook), ``_common`` (what the checkers share), and one module per lab with its checkers and labkit's
references (``attention_maps``, ``network_visualisation``, ``noise_fooling``, ``universal_masked_image``: never
in a clean room).
"""

from labkit.exercises._spec import Checker, Exercise

__all__ = ["Checker", "Exercise"]
