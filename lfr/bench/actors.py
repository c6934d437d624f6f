"""`lfr bench actors`: placeholder until issue #3 lands."""


def command() -> None:
    """Not yet built."""
    from lfr.cli._common import not_yet_built

    not_yet_built("lfr bench actors", issue=3)
