"""Errors that reach users as one readable line (the CLI prints them without a traceback)."""


class SpladeError(Exception):
    """A problem with the user's input: a missing file, an unknown id, mismatched artefacts."""
