"""`lfr run`: placeholder until its issue lands."""


def command() -> None:
    """Not yet built."""
    from lfr.cli._common import not_yet_built

    not_yet_built("lfr run", issue=3)
