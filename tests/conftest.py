"""Shared fixtures: the project's config, a temporary centre with its own database."""

from __future__ import annotations

from pathlib import Path

import pytest

from centre.config import Config, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def project_config() -> Config:
    """config.yaml as shipped."""
    return load_config(ROOT / "config.yaml")


@pytest.fixture
def tmp_config(tmp_path) -> Config:
    """The shipped config with its runtime files (database, data dir) in a temporary folder."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace('data_dir: "var"', f'data_dir: "{tmp_path}/var"')
    text = text.replace('database: "var/centre.db"', f'database: "{tmp_path}/var/centre.db"')
    return parse_config(text, base_dir=ROOT, source=ROOT / "config.yaml")


@pytest.fixture(scope="module")
def shipped_catalogue(project_config):
    """An in-memory database holding the shipped catalogue (one per test module)."""
    from search_helpers import shipped_catalogue_db

    c = shipped_catalogue_db(project_config)
    yield c
    c.close()


@pytest.fixture
def sim(project_config):
    """The robot simulator on a real pty, fast (40 m/s, 0.1 s to dock)."""
    from robot.sim import SimServer, make_robot

    s = SimServer(make_robot(project_config, speed_mps=40, dock_s=0.1)).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and other files a person should look at after a run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def shipped_searcher(shipped_catalogue, project_config):
    """A Searcher over the shipped catalogue (one per test module)."""
    from centre.search import Searcher

    return Searcher.from_config(shipped_catalogue, project_config)


@pytest.fixture(scope="module")
def fixture_searcher_3():
    """A Searcher over the five-procedure fixture catalogue, three hits at most (one per test module)."""
    from search_helpers import fixture_catalogue_db

    from centre.search import Searcher

    conn = fixture_catalogue_db()
    yield Searcher(conn, min_score=0.46, limit=3)
    conn.close()
