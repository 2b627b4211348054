"""Deprecated: ``labkit.probe`` is now ``labkit.confidence`` (three things were called "probe"); this name goes away
in the next release."""

from labkit.deprecation import moved

moved(__name__, "labkit.confidence")
