"""Fixtures with the real model, FAISS and SQLite over the project's sample data (loaded once per session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from matcher.config import Settings, load_settings
from matcher.embedding.encoder import Runtime, SentenceTransformerEmbedder
from matcher.engine import Matcher, open as open_matcher
from matcher.records import Kind
from tests.conftest import SAMPLE_DATA, SHARED_MODELS, TEST_MODELS


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """The model as the default settings run it (``auto``: OpenVINO where it runs), exports shared."""
    settings = load_settings(environ={})
    runtime = Runtime(settings.embedding_backend, "none", TEST_MODELS)
    return SentenceTransformerEmbedder(settings.model_name, None, settings.batch_size, runtime=runtime)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory, real_embedder) -> Path:
    """A data folder holding the sample catalogue and its indexes (built once; treat as read-only)."""
    data_dir = tmp_path_factory.mktemp("sample") / "var"
    matcher = open_matcher(
        load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False), embedder=real_embedder
    )
    matcher.ingest_file(SAMPLE_DATA / "projects.csv", Kind.PROJECTS)
    matcher.ingest_file(SAMPLE_DATA / "needs.csv", Kind.NEEDS)
    return data_dir


@pytest.fixture(scope="session")
def sample_matcher(sample_dir, real_embedder) -> Matcher:
    return open_matcher(
        load_settings(environ=SHARED_MODELS, data_dir=sample_dir, show_progress=False), embedder=real_embedder
    )


@pytest.fixture
def copied_settings(sample_dir, tmp_path) -> Settings:
    """Settings on a private copy of the sample data folder, for tests that change it."""
    data_dir = tmp_path / "var"
    shutil.copytree(sample_dir, data_dir)
    return load_settings(environ=SHARED_MODELS, data_dir=data_dir, show_progress=False)


@pytest.fixture
def copied_matcher(copied_settings, real_embedder) -> Matcher:
    return open_matcher(copied_settings, embedder=real_embedder)
