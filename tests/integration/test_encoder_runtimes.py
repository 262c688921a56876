"""The English model on OpenVINO and ONNX Runtime: the same vectors as torch, exported once, keyed apart."""

from __future__ import annotations

import json
import logging
import re
import shutil

import numpy as np
import pytest

from matcher.config import load_settings
from matcher.embedding import runtimes
from matcher.embedding.encoder import Runtime, SentenceTransformerEmbedder
from matcher.embedding.factory import EncoderOptions, make_embedder
from matcher.engine import open as open_matcher
from matcher.errors import ConfigError, IndexMismatch
from matcher.records import Kind
from tests.conftest import SAMPLE_DATA, SHARED_MODELS, TEST_MODELS

TEXTS = [
    "Laser welding of aluminium battery trays for electric vehicles, with seam tracking and porosity control.",
    "Hollow-fibre membrane contactors separate adjacent rare earths with a new phosphonic acid extractant.",
    "drone inspection",
    "玉米秸秆生物炭改良黑土的田间试验",
]
SPANS = [[(0, 14), (15, 40)], [(0, 30)], [(0, 5)], [(0, 4)]]


@pytest.fixture(scope="module")
def torch_vectors(real_embedder):
    torch = SentenceTransformerEmbedder(real_embedder.name, real_embedder.path)
    return torch.encode(TEXTS), torch.encode_spans(TEXTS, SPANS)[1], torch.identity


@pytest.mark.parametrize(
    ("runtime", "quantisation", "least_cosine"),
    [("openvino", "none", 0.999), ("onnx", "none", 0.99999)],
)
def test_an_exported_model_gives_torch_s_vectors_and_sentence_sums(torch_vectors, runtime, quantisation, least_cosine):
    vectors, spans, torch_identity = torch_vectors
    embedder = SentenceTransformerEmbedder(
        "sentence-transformers/all-MiniLM-L6-v2", runtime=Runtime(runtime, quantisation, TEST_MODELS)
    )
    got = embedder.encode(TEXTS)
    assert got.shape == vectors.shape and np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert (got * vectors).sum(axis=1).min() >= least_cosine
    _, got_spans = embedder.encode_spans(TEXTS, SPANS)
    for mine, theirs in zip(got_spans, spans):
        assert np.array_equal(mine.tokens, theirs.tokens)
        assert np.allclose(mine.sums, theirs.sums, atol=0.1)
    assert embedder.identity != torch_identity
    assert embedder.identity.split("/")[-1].startswith(runtime)


def test_int8_is_calibrated_once_on_the_sample_texts_and_reused(tmp_path, torch_vectors, monkeypatch, caplog):
    monkeypatch.setattr(runtimes, "CALIBRATION_SIZE", 24)  # the default 300 takes a minute here
    vectors, _, _ = torch_vectors
    models = tmp_path / "models"
    first = SentenceTransformerEmbedder("minilm", runtime=Runtime("openvino", "int8", models))
    got = first.encode(TEXTS)
    assert (got * vectors).sum(axis=1).min() > 0.9
    float_model = SentenceTransformerEmbedder("minilm", runtime=Runtime("openvino", "none", TEST_MODELS))
    assert not np.allclose(got, float_model.encode(TEXTS), atol=1e-4)  # quantised: not the float model's vectors
    (folder,) = models.glob("minilm-*-openvino-int8-e*")
    about = json.loads((folder / "export.json").read_text())
    assert about["quantisation"] == "int8" and len(about["weights_sha256"]) == 64
    assert re.search(r"/openvino-int8-e\d+c[0-9a-f]{6}$", first.identity)
    caplog.set_level(logging.INFO, logger="matcher.embedding.runtimes")
    again = SentenceTransformerEmbedder("minilm", runtime=Runtime("openvino", "int8", models))
    assert np.array_equal(again.encode(TEXTS), got)
    assert "Exporting" not in caplog.text
    assert not list(models.glob(".staging-*"))


def test_changed_weights_make_a_new_identity_and_a_new_export(tmp_path, real_embedder):
    copy = tmp_path / "minilm"
    shutil.copytree(real_embedder.path, copy)
    models = tmp_path / "models"
    before = SentenceTransformerEmbedder("minilm", copy, runtime=Runtime("openvino", "none", models))
    before.encode(["x"])
    identity = before.identity
    config = copy / "config.json"
    config.write_text(config.read_text() + "\n")
    after = SentenceTransformerEmbedder("minilm", copy, runtime=Runtime("openvino", "none", models))
    after.encode(["x"])
    assert after.identity != identity
    assert len(list(models.glob("minilm-*-openvino-none-e*"))) == 2


def test_auto_runs_on_openvino_here_and_on_torch_where_it_cannot(monkeypatch, caplog):
    auto = SentenceTransformerEmbedder("m", runtime=Runtime("auto", "none", TEST_MODELS))
    assert re.search(r"/openvino-(bf16|fp32)-e\d+$", auto.identity)
    monkeypatch.setattr(
        runtimes,
        "runtime_problem",
        lambda runtime, quantisation="none": None if runtime == "torch" else "not installed (test)",
    )
    caplog.set_level(logging.WARNING)
    fallback = SentenceTransformerEmbedder("m", runtime=Runtime("auto", "none", TEST_MODELS))
    assert fallback.identity.endswith("/torch-fp32")
    assert (
        "The encoder runs on torch: OpenVINO cannot run here" in caplog.text and "not installed (test)" in caplog.text
    )


def test_vectors_of_another_runtime_are_never_mixed_in(tmp_path, real_embedder):
    settings = load_settings(
        environ=SHARED_MODELS, data_dir=tmp_path / "var", show_progress=False, multilingual_backend=""
    )
    torch = SentenceTransformerEmbedder(real_embedder.name, real_embedder.path)
    built = open_matcher(settings, embedder=torch)
    built.ingest_file(SAMPLE_DATA / "projects.csv", Kind.PROJECTS)
    other = open_matcher(settings, embedder=real_embedder)
    assert real_embedder.identity != torch.identity
    with pytest.raises(IndexMismatch, match=r"built with model '.*/torch-fp32'.*`matcher index --rebuild`"):
        other.match(other.request(text="laser welding"))
    other.indexes._loaded.clear()
    other.sync_index(Kind.PROJECTS, rebuild=True)
    assert other.vectors.encoded_count > 0  # re-encoded: none of torch's vectors were taken
    assert other.match(other.request(text="laser welding aluminium", top_k=1)).matches[0].record.id == "P024"


@pytest.mark.parametrize(
    ("backend", "quantisation", "setting"),
    [("torch", "int8", "embedding_quantisation"), ("tensorflow", "", "embedding_backend")],
)
def test_a_backend_that_cannot_be_is_named(backend, quantisation, setting):
    with pytest.raises(ConfigError) as raised:
        make_embedder(backend, "m", options=EncoderOptions(quantisation=quantisation, models_dir=TEST_MODELS))
    assert raised.value.details["setting"] == setting
