"""`lfr bench vision`: placeholder until issue #4 lands."""


def command() -> None:
    """Not yet built."""
    from lfr.cli._common import not_yet_built

    not_yet_built("lfr bench vision", issue=4)
