"""aicc: the scheduler of a shared AI computing center."""

__version__ = "0.1.0"
