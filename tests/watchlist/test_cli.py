"""`lfr watchlist` end to end: enrol from photos, publish, and the audit trail in the log."""

from pathlib import Path

import anyio
import orjson
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.config import settings


@pytest.fixture
def site(model_pack: Path, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("LFR_MODEL_DIR", str(model_pack.parent))
    monkeypatch.setenv("LFR_DATA_DIR", str(tmp_path / "site"))
    settings.cache_clear()
    yield tmp_path / "site"
    settings.cache_clear()


def _run(*args: str):
    result = CliRunner().invoke(app, ["watchlist", *args])
    return result, " ".join(result.output.split())


def test_enrol_publish_remove_and_log(site: Path, tmp_path: Path):
    faces = settings().faces_dir.resolve()
    people = tmp_path / "people"
    for identity in ("Barack_Obama", "Joe_Biden"):
        (people / identity).mkdir(parents=True)
        (people / identity / "1.jpg").symlink_to(faces / identity / "1.jpg")
    who = ["--category", "wanted_by_police", "--legal-basis", "warrant W-1", "--by", "PC 1"]
    result, out = _run("import", str(people), *who)
    assert result.exit_code == 0, out
    assert "2 entries added" in out
    result, out = _run(
        "add", str(faces / "John_Simm" / "1.jpg"), "--label", "J S", "--id", "js", *who
    )
    assert result.exit_code == 0 and "js" in result.stdout
    result, out = _run(
        "add",
        str(settings().shared.resolve() / "scenes" / "face_recognition_two_people.jpg"),
        "--label",
        "x",
        *who,
    )
    assert result.exit_code == 1 and "faces found" in out
    result, _ = _run(
        "add", str(faces / "John_Simm" / "2.jpg"), "--label", "J S", "--id", "js", *who
    )
    assert result.exit_code == 1
    result, out = _run("publish", "--by", "Insp 2", "--json")
    assert result.exit_code == 0, out
    first = orjson.loads(result.stdout)
    assert first["entries"] == 3 and first["version"].startswith("sha256:")
    result, out = _run("remove", "js", "--by", "Insp 2", "--reason", "arrested")
    assert result.exit_code == 0, out
    result, _ = _run("publish", "--by", "Insp 2", "--json")
    second = orjson.loads(result.stdout)
    assert second["entries"] == 2 and second["version"] != first["version"]
    result, _ = _run("list", "--json")
    listed = orjson.loads(result.stdout)["entries"]
    assert [e["entry_id"] for e in listed] == ["Barack_Obama", "Joe_Biden"]
    assert all("embedding" not in e and "vector" not in e for e in listed)
    result, _ = _run("list", "--versions", "--json")
    assert len(orjson.loads(result.stdout)["versions"]) == 2

    async def read() -> list:
        from lfr.store.sqlite import open_store

        store = await open_store(site)
        try:
            return await store.read_stream("watchlist:default")
        finally:
            await store.aclose()

    types = [e.type for e in anyio.run(read)]
    assert types == [
        "WatchlistEntryAdded",
        "WatchlistEntryAdded",
        "WatchlistEntryAdded",
        "WatchlistPublished",
        "WatchlistEntryRemoved",
        "WatchlistPublished",
    ]


def test_unknown_category_is_refused(site: Path):
    faces = settings().faces_dir.resolve()
    result, out = _run(
        "add",
        str(faces / "John_Simm" / "1.jpg"),
        "--label",
        "x",
        "--category",
        "nosy",
        "--legal-basis",
        "b",
        "--by",
        "me",
    )
    assert result.exit_code == 1 and "is not one of" in out


def test_add_enrols_every_clear_photo_and_a_box_picks_the_subject(site: Path):
    faces = settings().faces_dir.resolve()
    two_people = settings().shared.resolve() / "scenes" / "face_recognition_two_people.jpg"
    who = ["--category", "suspect", "--legal-basis", "warrant W-2", "--by", "PC 1"]
    photos = [str(faces / "Barack_Obama" / "1.jpg"), str(two_people)]
    result, out = _run("add", *photos, "--label", "B O", "--id", "bo", *who)
    assert result.exit_code == 0, out
    assert "refused:" in out and "face_recognition_two_people.jpg" in out
    assert "enrolled from 1 photo(s), 1 refused" in out
    # the right-hand portrait of the two (1126 x 661) is Biden's
    result, out = _run("add", str(two_people), "--box", "563,0,1126,661", "--label", "J B", *who)
    assert result.exit_code == 0, out
    result, out = _run("add", str(two_people), "--box", "5,5,1", "--label", "x", *who)
    assert result.exit_code == 1 and "four numbers" in out
    result, _ = _run("list", "--json")
    listed = {e["label"]: e for e in orjson.loads(result.stdout)["entries"]}
    assert listed["B O"]["photos"] == 1
    assert listed["B O"]["photo_sources"] == [photos[0]]
    assert listed["J B"]["photo_sources"] == [str(two_people)]


def test_the_cli_keeps_the_photo_in_the_vault_and_always_logs(site: Path):
    from lfr.sealing import Sealer
    from lfr.vault import BiometricVault

    photo = settings().faces_dir.resolve() / "John_Simm" / "1.jpg"
    who = ["--category", "suspect", "--legal-basis", "warrant W-3", "--by", "PC 1"]
    result, out = _run("add", str(photo), "--label", "J S", "--id", "js", "--no-log", *who)
    assert result.exit_code == 2 and "no-log" in out  # the audit trail cannot be skipped
    result, out = _run("add", str(photo), "--label", "J S", "--id", "js", *who)
    assert result.exit_code == 0, out

    async def read() -> list:
        from lfr.store.sqlite import open_store

        store = await open_store(site)
        try:
            return [e.decode() for e in await store.read_stream("watchlist:default")]
        finally:
            await store.aclose()

    (sealed,) = anyio.run(read)
    assert sealed.label is None and sealed.image_ref is None  # who: sealed in the log
    vault = BiometricVault.for_data_dir(site)
    try:
        added = Sealer(vault).open_sync(sealed)
        assert added.label == "J S" and added.image_ref is not None
        assert vault.get_sync(added.image_ref) == photo.read_bytes()
        result, out = _run("remove", "js", "--by", "PC 1", "--reason", "entered in error")
        assert result.exit_code == 0, out
        assert not vault.exists_sync(added.image_ref)  # never published: shredded at once
    finally:
        vault.close()
