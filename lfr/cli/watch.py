"""`lfr watch`: placeholder until its issue lands."""


def command() -> None:
    """Not yet built."""
    from lfr.cli._common import not_yet_built

    not_yet_built("lfr watch", issue=5)
