"""The one error type users see: a single line naming the file, line or config key."""


class LemaError(Exception):
    """A user-facing error. Its message is one line and says what to fix."""


class ConfigError(LemaError):
    """A config.yaml key is wrong or unknown."""


class DataError(LemaError):
    """An input file is malformed (the message names the file and line)."""
