"""`lfr bench log`: placeholder until issue #2 lands."""


def command() -> None:
    """Not yet built."""
    from lfr.cli._common import not_yet_built

    not_yet_built("lfr bench log", issue=2)
