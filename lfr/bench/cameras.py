"""`lfr bench cameras`: placeholder until issue #5 lands."""


def command() -> None:
    """Not yet built."""
    from lfr.cli._common import not_yet_built

    not_yet_built("lfr bench cameras", issue=5)
