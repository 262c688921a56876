"""A sentence-transformers model's transformer run by OpenVINO or ONNX Runtime instead of torch.

The model's own tokenizer, pooling and normalisation stay sentence-transformers'; only the
transformer's forward pass (token vectors from input ids) is exported and run by the other
runtime, so every model folder the torch backend reads works here too. Exports are made
locally from the model's own weights (nothing is downloaded), kept in a folder named by the
weights' hash (new weights, new folder), and written atomically: a staging folder renamed into
place under a file lock, so processes starting together export once.

int8 means, for OpenVINO, static quantisation by NNCF calibrated on the project's own sample
texts (``calibration_texts.json``); for ONNX, ONNX Runtime's dynamic quantisation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from matcher.embedding.staged import made_once
from matcher.errors import Unavailable
from matcher.support.clock import utc_now

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "openvino", "onnx")
AUTO = "auto"  # the fastest runtime this machine has: automatic()
QUANTISATIONS = ("none", "int8")
EXPORT_FORMAT = 1  # bump when an export's layout or recipe changes: older folders are ignored
CALIBRATION_SIZE = 300
_MODULE_FOR = {"openvino": "openvino", "onnx": "onnxruntime"}

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


def runtime_problem(runtime: str, quantisation: str = "none") -> str | None:
    """Why ``runtime`` (with ``quantisation``) cannot run here, or None when it can."""
    needed = [_MODULE_FOR[runtime]] if runtime in _MODULE_FOR else []
    if runtime == "openvino" and quantisation == "int8":
        needed.append("nncf")
    if runtime == "onnx":
        needed.append("onnx")
    for module in needed:
        try:
            __import__(module)
        except ImportError as error:
            return f"the package {module!r} is not importable ({error})"
    return None


def automatic() -> tuple[str, str]:
    """The runtime ``auto`` means on this machine, and why: OpenVINO when it can run, else torch.

    Measured (benchmarks/bench_encoders.py, RESULTS.md): OpenVINO's float model encodes 2.2-2.4x
    torch's texts/s on a CPU with AVX-512 BF16 (it computes in bf16 there, vectors within 0.0001
    cosine of torch's) and about 1.5x where it computes in f32. Its int8 is faster still but moves
    vectors more, so it is chosen by setting only.
    """
    try:
        capability = precision("openvino", "none")
    except Unavailable as error:
        problem = error.message
    else:
        return "openvino", f"computes in {capability} on this CPU, faster than torch"
    log.warning("The encoder runs on torch: OpenVINO cannot run here (%s)", problem)
    return "torch", f"OpenVINO cannot run here: {problem}"


def precision(runtime: str, quantisation: str) -> str:
    """What the runtime computes in: int8, or for a float model bf16 where OpenVINO's CPU plugin has
    bf16 instructions (its default there, and what :func:`load_runner` asks for), else fp32.

    Part of the vectors' identity; a runtime that cannot run here is refused, naming the setting.
    """
    problem = runtime_problem(runtime, quantisation)
    if problem is not None:
        raise Unavailable(
            f"The encoder runtime {runtime!r} cannot run here: {problem}",
            details={"setting": "embedding_backend", "runtime": runtime},
        )
    if quantisation == "int8":
        return "int8"
    if runtime == "openvino":
        import openvino

        try:
            capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        except RuntimeError as error:
            raise Unavailable(
                f"OpenVINO's CPU plugin cannot start here: {error}",
                details={"setting": "embedding_backend", "runtime": runtime},
            ) from None
        return "bf16" if "BF16" in capabilities else "fp32"
    return "fp32"


@functools.cache
def _calibration_digest() -> str:
    return hashlib.sha256("\x00".join(calibration_texts()[:CALIBRATION_SIZE]).encode()).hexdigest()


def recipe(runtime: str, quantisation: str) -> str:
    """How an export is made, for the identity: its format, and for int8 a hash of the calibration texts."""
    if runtime == "torch":
        return ""
    made = f"e{EXPORT_FORMAT}"
    return f"{made}c{_calibration_digest()[:6]}" if runtime == "openvino" and quantisation == "int8" else made


def export_folder(models_dir: Path, name: str, digest: str, runtime: str, quantisation: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    return models_dir / f"{slug}-{digest[:12]}-{runtime}-{quantisation}-{recipe(runtime, quantisation)}"


def calibration_texts() -> list[str]:
    """The int8 calibration texts: the sample catalogue's records, sentence pairs and titles."""
    text = resources.files("matcher.embedding").joinpath("calibration_texts.json").read_text(encoding="utf-8")
    texts: list[str] = json.loads(text)
    return texts


@dataclass(frozen=True)
class _Inputs:
    """The tokenizer's outputs the transformer takes, in order."""

    names: tuple[str, ...]

    def of(self, encoded: Any) -> dict[str, Any]:
        return {name: encoded[name] for name in self.names}


def _input_names(tokenizer: Any) -> _Inputs:
    wanted = ("input_ids", "attention_mask", "token_type_ids")
    names = tuple(name for name in wanted if name in getattr(tokenizer, "model_input_names", wanted))
    return _Inputs(names)


def _hidden_states_module(transformer: Any, inputs: _Inputs) -> Any:
    """A torch module whose forward takes the named inputs and returns only the last hidden state."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            output = self.transformer(**dict(zip(inputs.names, tensors)), return_dict=True)
            hidden: torch.Tensor = output.last_hidden_state
            return hidden

    return HiddenStates().eval()


def ensure_export(model: Any, folder: Path, runtime: str, quantisation: str, digest: str) -> Path:
    """``folder`` holding ``model``'s transformer exported for ``runtime``; made now unless it exists."""
    if (folder / "export.json").is_file():
        return folder
    problem = runtime_problem(runtime, quantisation)
    if problem is not None:
        raise Unavailable(
            f"Cannot export the model for {runtime}: {problem}",
            details={"setting": "embedding_backend", "runtime": runtime},
        )
    return made_once(
        folder, "export.json", functools.partial(_export, model, runtime, quantisation, digest), "model_cache_dir"
    )


def _export(model: Any, runtime: str, quantisation: str, digest: str, staging: Path) -> None:
    """Export into the empty ``staging`` folder, ``export.json`` (what was made, from what) last."""
    log.info("Exporting the model for %s (%s)", runtime, quantisation)
    started = time.monotonic()
    with warnings.catch_warnings():  # tracing warns about Python control flow it freezes
        warnings.simplefilter("ignore")
        _EXPORTERS[runtime](model, staging, quantisation)
    about = {
        "format": EXPORT_FORMAT,
        "runtime": runtime,
        "quantisation": quantisation,
        "weights_sha256": digest,
        "made": utc_now(),
        "seconds": round(time.monotonic() - started, 1),
    }
    (staging / "export.json").write_text(json.dumps(about, indent=1) + "\n", encoding="utf-8")


def _example(model: Any, inputs: _Inputs, tensors: str) -> Any:
    encoded = model.tokenizer(
        ["An example text.", "A second, somewhat longer example text."], padding=True, return_tensors=tensors
    )
    return inputs.of(encoded)


def _export_openvino(model: Any, staging: Path, quantisation: str) -> None:
    import openvino
    import torch

    inputs = _input_names(model.tokenizer)
    module = _hidden_states_module(model[0].auto_model, inputs)
    example = _example(model, inputs, "pt")
    with torch.no_grad():
        converted = openvino.convert_model(module, example_input=tuple(example.values()))
    for port, name in zip(converted.inputs, inputs.names):
        port.get_tensor().set_names({name})
    if quantisation == "int8":
        converted = _quantised_openvino(converted, model, inputs)
    openvino.save_model(converted, str(staging / "model.xml"), compress_to_fp16=False)


def _quantised_openvino(converted: Any, model: Any, inputs: _Inputs) -> Any:
    """Static int8 by NNCF: activation ranges measured on the calibration texts, one text a sample."""
    import nncf

    limit = model.max_seq_length
    samples = [
        inputs.of(model.tokenizer([text], truncation=True, max_length=limit, return_tensors="np"))
        for text in calibration_texts()[:CALIBRATION_SIZE]
    ]
    logging.getLogger("nncf").setLevel(logging.WARNING)
    return nncf.quantize(
        converted,
        nncf.Dataset(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(samples),
    )


def _export_onnx(model: Any, staging: Path, quantisation: str) -> None:
    import torch

    inputs = _input_names(model.tokenizer)
    module = _hidden_states_module(model[0].auto_model, inputs)
    example = _example(model, inputs, "pt")
    target = staging / ("model-fp32.onnx" if quantisation == "int8" else "model.onnx")
    axes = {name: {0: "batch", 1: "pieces"} for name in (*inputs.names, "token_embeddings")}
    with torch.no_grad():
        torch.onnx.export(
            module,
            tuple(example.values()),
            str(target),
            input_names=list(inputs.names),
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    if quantisation == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(target), str(staging / "model.onnx"), weight_type=QuantType.QInt8)
        target.unlink()


_EXPORTERS: dict[str, Callable[[Any, Path, str], None]] = {"openvino": _export_openvino, "onnx": _export_onnx}


def compile_on_cpu(model: Any, config: dict[str, Any]) -> Any:
    """``model`` (an ``openvino.Model`` or the path of its XML) compiled for the CPU with ``config``,
    its threads left unpinned.

    OpenVINO pins a compiled model's threads to cores, and a process that asks for one thread gets
    the first core: two server workers or Ray actors of one thread each then share one core while
    the other idles (measured: two one-thread processes took 1.9x as long each as one alone; 1.0x
    unpinned). The processes here share the machine, so the kernel places the threads.
    """
    import openvino

    core = openvino.Core()
    source = core.read_model(str(model)) if isinstance(model, (str, Path)) else model
    return core.compile_model(source, "CPU", {**config, "ENABLE_CPU_PINNING": False})


def load_runner(folder: Path, runtime: str, quantisation: str, threads: int) -> Runner:
    """A function from the tokenizer's numpy inputs to the token vectors, run by ``runtime``."""
    if runtime == "openvino":
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads} if threads else {}
        if quantisation == "none":  # the precision the identity names, not whatever the plugin defaults to
            config["INFERENCE_PRECISION_HINT"] = {"bf16": "bf16", "fp32": "f32"}[precision(runtime, quantisation)]
        compiled = compile_on_cpu(folder / "model.xml", config)
        request = compiled.create_infer_request()

        def run_openvino(features: dict[str, np.ndarray]) -> np.ndarray:
            request.infer(features)
            hidden: np.ndarray = request.get_output_tensor(0).data.copy()
            return hidden

        return run_openvino
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def run_onnx(features: dict[str, np.ndarray]) -> np.ndarray:
        hidden: np.ndarray = session.run(None, {key: value.astype(np.int64) for key, value in features.items()})[0]
        return hidden

    return run_onnx


def swap_transformer(model: Any, run: Runner) -> None:
    """Make ``model``'s first module compute its token vectors with ``run`` (torch keeps only the glue).

    The torch weights are dropped, so the model's memory is the exported copy's alone.
    """
    import torch

    transformer = model[0]
    inputs = _input_names(model.tokenizer)
    config = transformer.auto_model.config

    class Compiled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = config

        def forward(self, **features: Any) -> dict[str, torch.Tensor]:
            arrays = {name: features[name].cpu().numpy() for name in inputs.names if name in features}
            return {"last_hidden_state": torch.from_numpy(run(arrays))}

    transformer.model = Compiled()
