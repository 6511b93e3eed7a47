"""The one exception type for bad input.

Anything a user can get wrong (a path, a config key, a tensor shape) raises `UserError` with one
sentence that says what is wrong and what to do; the command line prints that sentence and exits
non-zero instead of showing a traceback. It subclasses ValueError so library callers can catch it
as the standard type for bad arguments.
"""


class UserError(ValueError):
    """Bad input from the user, explained in one sentence."""
