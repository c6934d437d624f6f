"""Stream names: built and split in one place, so what the actors write the auditor can find."""

from hypothesis import given
from hypothesis import strategies as st

from schemas.streams import (
    SUPERVISION_STREAM,
    camera_stream,
    patrol_stream,
    site_stream,
    split_stream,
    watchlist_stream,
    zone_stream,
    zone_supervisor,
)

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20)


@given(ids)
def test_every_kind_splits_back_into_its_kind_and_id(ident: str) -> None:
    for build, kind in (
        (zone_stream, "zone"),
        (camera_stream, "camera"),
        (patrol_stream, "patrol"),
        (watchlist_stream, "watchlist"),
        (site_stream, "site"),
    ):
        assert split_stream(build(ident)) == (kind, ident)


def test_names_match_the_log_as_written() -> None:
    assert zone_stream("north-end") == "zone:north-end"
    assert camera_stream("ne-1") == "camera:ne-1"
    assert zone_supervisor("north-end") == "zone:north-end/sup"
    assert split_stream(SUPERVISION_STREAM) == ("site", "supervision")


def test_foreign_names_are_not_ours() -> None:
    assert split_stream("nonsense") is None
    assert split_stream("zone:") is None
    assert split_stream("officer:p-1") is None
