"""Bad input: the one kind of error the command line reports as a line rather than a traceback.

An ``InputError`` says that a file, table, option or configuration value cannot be used, naming it and what
would be valid. It is a ``ValueError``, so code that catches those keeps working. Any other exception escaping
a stage is a bug in transferstudy, and the command line says so.
"""


class InputError(ValueError):
    """A file, table, option or configuration value cannot be used; the message names it and what would be
    valid."""


def cause(error):
    """What a library's exception said, in one line: its type and the first line of its message (torch's and
    YAML's run to several lines)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
