"""The one exception type that reaches users as a message instead of a traceback."""


class KerarchError(Exception):
    """Bad input or an unusable environment, explained in one paragraph.

    The command line prints the message and exits with status 2.
    """
