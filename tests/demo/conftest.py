"""Demo tests share one scene cache, so the street is rendered once per session."""

import pytest


@pytest.fixture(scope="session")
def scene_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("scene-cache")
