"""A fast query encoder: the sentence-transformers model exported once to ONNX Runtime.

Query embedding dominated answer latency: ≈20–27 ms per question for e5-small in
PyTorch fp32 on 2 cores, and 10x more when other processes compete for the cores
(PyTorch's OpenMP threads spin-wait). The same fp32 model in ONNX Runtime, with its
attention and LayerNorms fused, computes the same vectors (cosine 1.0000) in about
a third of the time on an idle machine (p50 9.3 vs 31.9 ms on the dev questions).
Measured side by side in ``policyqa bench``.

``query_backend = "onnx-int8"`` adds dynamic int8 quantization of the weight matrix
products: ≈2x faster again, vectors at cosine ≥ 0.996 to fp32, but on the dev set
two questions whose evidence sits exactly at rank 5 drop to rank 6–7 (Recall@5
1.000 → 0.941), so fp32 is the default (bench/README.md, "Query embedding").

Passages are embedded here too when padded batches agree with PyTorch to cosine
``PASSAGE_AGREEMENT`` (recorded in ``conversion.json``), else by PyTorch.
The conversion checks agreement with the PyTorch model on fixed probe texts and is
refused below ``QUERY_AGREEMENT``. It runs once per model directory and runtime, into
``<model cache>/<name>-<path hash>-onnx-v<N>-ort<onnxruntime version>`` (the model cache is
shared by every checkout of a machine, ``Settings.model_cache_dir``), written to a temporary
directory and renamed into place, like ``index.e5_model``; the int8 file is added beside it
on first use.

The word-embedding table (250 037 × 384 floats, 82 % of e5-small's weights) is kept out of
the exported graph: the model is exported with a small placeholder table, and the real one
is written once to ``WORD_TABLE_FILE`` and named as the placeholder's external data. That
keeps the export at ≈ 1.2 GB peak instead of 4.6 GB (the exporter and the optimizer each
copied the table), and ONNX Runtime maps the file instead of reading it: only the rows of
tokens a text uses are ever read into memory (issue 15; README, "Indexing").
"""

from __future__ import annotations

import copy
import gc
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.errors import ConfigError

if TYPE_CHECKING:  # torch, transformers and onnx load only where a conversion needs them
    import torch
    from onnx import ModelProto, TensorProto
    from onnxruntime import InferenceSession
    from transformers import PreTrainedModel

_CONVERTER_VERSION = 4  # part of the directory name: bump it when the written files change
_TMP_MARK = ".tmp-"
MODEL_FILE = "model.onnx"  # fp32, attention and LayerNorms fused
INT8_FILE = "model-int8.onnx"
WORD_TABLE_FILE = "word_embeddings.bin"  # raw float32 rows: external data of both models
INFO_FILE = "conversion.json"
# Query vectors of a converted model must agree with the PyTorch model's at least this
# well (cosine) on every probe text, or the conversion is refused.
QUERY_AGREEMENT = 0.99
# Passage vectors become the index: the fp32 export embeds them only if padded batches agree
# with PyTorch this closely (measured 0.9999999).
PASSAGE_AGREEMENT = 0.99999
PROBE_TEXTS = (
    "query: 脱贫攻坚8年间，中央财政累计投入了多少专项扶贫资金？",
    "query: 我国的扶贫日定在每年的哪一天？",
    "passage: 2012年到2016年，我国农村贫困发生率由10.2%下降至4.5%。",
    "passage: 中央层面共安排320个单位定点帮扶592个贫困县，实现对国家扶贫开发工作重点县全覆盖。",
    "query: how is the poverty alleviation fund supervised?",
)
_ONNX_OPSET = 17


def onnx_dir_for(model_dir: Path, cache_dir: Path) -> Path:
    """Where the ONNX conversion of a sentence-transformers directory is kept.

    The name carries the model directory (its name and a hash of its path), the converter
    version and the ONNX Runtime version whose fused operators the file uses.
    """
    source = hashlib.sha256(str(Path(model_dir).resolve()).encode()).hexdigest()[:8]
    return cache_dir / f"{Path(model_dir).name}-{source}-onnx-v{_CONVERTER_VERSION}-ort{_runtime_version()}"


def _runtime_version() -> str:
    try:
        return importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return "none"  # the conversion itself then says what to install


def ensure_onnx_model(model_dir: Path, cache_dir: Path, int8: bool = False) -> Path:
    """Export ``model_dir`` (a local sentence-transformers directory) to ONNX once.

    Args:
        model_dir: the model the index's passage vectors come from.
        cache_dir: where converted models are kept (``Settings.model_cache_dir``).
        int8: also make the int8-quantized model (``INT8_FILE``).
    Returns:
        The directory holding the model files, ``tokenizer.json`` and ``conversion.json``.
    Raises:
        ConfigError: the model cannot be exported (pooling other than mean/CLS, no
            ``tokenizer.json``, ``onnx`` not installed) or its vectors disagree.
    """
    model_dir = Path(model_dir)
    target = onnx_dir_for(model_dir, cache_dir)
    if not (target / MODEL_FILE).is_file():
        if not (model_dir / "tokenizer.json").is_file():
            raise ConfigError(f'{model_dir} has no tokenizer.json; set query_backend = "torch"')
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _temporary_dir(cache_dir, target.name) as tmp:
            _convert(model_dir, tmp)
            try:
                os.rename(tmp, target)
            except OSError:
                if not (target / MODEL_FILE).is_file():  # another process finished the same conversion first
                    raise
    if int8 and not (target / INT8_FILE).is_file():
        _add_int8(target)
    return target


class _temporary_dir:
    """A fresh directory beside the target, removed on exit unless renamed away."""

    def __init__(self, parent: Path, name: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f".{name}{_TMP_MARK}{os.getpid()}-", dir=parent))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _pooling_mode(model_dir: Path) -> tuple[str, bool]:
    """("mean" | "cls", normalized?) from the sentence-transformers module configuration."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m["type"].endswith("Pooling")), None)
    if pooling is None:
        raise ConfigError(f'{model_dir}: no pooling module; set query_backend = "torch"')
    config = json.loads((model_dir / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    if config.get("pooling_mode_mean_tokens"):
        return "mean", "Normalize" in kinds
    if config.get("pooling_mode_cls_token"):
        return "cls", "Normalize" in kinds
    raise ConfigError(f'{model_dir}: only mean or CLS pooling can be exported; set query_backend = "torch"')


def _convert(model_dir: Path, out: Path) -> None:
    try:
        import onnx
        from onnxruntime.transformers import optimizer
    except ImportError as exc:
        raise ConfigError(f"the ONNX query backends need onnx and onnxruntime ({exc})") from exc
    import torch
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" would print in `policyqa index`
    pooling, normalized = _pooling_mode(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    # Eager attention exports the plain attention pattern that ONNX Runtime fuses into one
    # Attention op per layer (SDPA's does not fuse): p50 13.8 vs 18.2 ms, same vectors.
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    wrapped = _pooled_module(model, pooling, normalized)
    shutil.copy(model_dir / "tokenizer.json", out / "tokenizer.json")
    references = _reference(wrapped, out)
    table = _detach_word_table(model, out / WORD_TABLE_FILE)
    exported = out / "exported.onnx"
    ids = torch.ones(1, 16, dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings(), _quiet_logging():
        warnings.simplefilter("ignore")  # tracer warnings about shapes; queries are one unpadded sequence
        # The TorchScript exporter needs no onnxscript.
        torch.onnx.export(
            wrapped,
            (ids, torch.ones_like(ids)),
            str(exported),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
            opset_version=_ONNX_OPSET,
            dynamo=False,
        )
        del wrapped, model  # the optimizer's copies of the graph come next: free PyTorch's first
        gc.collect()
        optimized = optimizer.optimize_model(
            str(exported),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=1,
        )
    _point_at_word_table(_word_table_initializer(optimized.model, table, placeholder=True), table)
    onnx.save_model(optimized.model, str(out / MODEL_FILE))
    del optimized
    exported.unlink()
    max_length = _max_length(model_dir)
    encoder = OnnxEncoder(out, threads=1, max_length=max_length)
    agreement = _agreement(encoder, references)
    if agreement < QUERY_AGREEMENT:
        raise ConfigError(
            f"the ONNX export of {model_dir} agrees with the PyTorch model only to cosine {agreement:.4f}; "
            'set query_backend = "torch"'
        )
    batched = encoder.encode_batch(list(PROBE_TEXTS))
    batch_agreement = float(min((batched * np.stack(references)).sum(axis=1)))
    info = {
        "source": str(model_dir.resolve()),
        "pooling": pooling,
        "normalized": normalized,
        "max_length": max_length,
        "word_table": {"rows": table.rows, "dim": table.dim, "placeholder_rows": table.placeholder_rows},
        "min_probe_cosine": round(agreement, 7),
        "min_batch_probe_cosine": round(batch_agreement, 7),
        # Passages (index vectors) may come from here only if padded batches match PyTorch.
        "passages": batch_agreement >= PASSAGE_AGREEMENT,
        "converter_version": _CONVERTER_VERSION,
    }
    np.save(out / "probe_vectors.npy", np.stack(references), allow_pickle=False)
    (out / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


class _WordTable:
    """Shape of the word-embedding table written to ``WORD_TABLE_FILE``, and of its placeholder."""

    def __init__(self, rows: int, dim: int, placeholder_rows: int) -> None:
        self.rows = rows
        self.dim = dim
        self.placeholder_rows = placeholder_rows


def _detach_word_table(model: PreTrainedModel, path: Path) -> _WordTable:
    """Write the model's word-embedding table to ``path`` and put a small placeholder in its place.

    The placeholder has one row more than the position table, so no other initializer
    has its shape and the optimizer still tells the word table from the position table
    (it takes the larger one for the words).
    """
    import torch

    embedding = model.get_input_embeddings()
    if not isinstance(embedding, torch.nn.Embedding):
        raise ConfigError(
            f'the model\'s word embeddings are a {type(embedding).__name__}, not a table; set query_backend = "torch"'
        )
    weights = embedding.weight.detach().numpy()
    with open(path, "wb") as out:
        np.ascontiguousarray(weights, dtype="<f4").tofile(out)
    table = _WordTable(int(weights.shape[0]), int(weights.shape[1]), model.config.max_position_embeddings + 1)
    model.set_input_embeddings(torch.nn.Embedding(table.placeholder_rows, table.dim))
    return table


def _word_table_initializer(model: ModelProto, table: _WordTable, placeholder: bool) -> TensorProto:
    """The graph's word-embedding initializer: the placeholder, or the reference to the real table."""
    rows = table.placeholder_rows if placeholder else table.rows
    found = [init for init in model.graph.initializer if list(init.dims) == [rows, table.dim]]
    if len(found) != 1:
        raise ConfigError(
            f"the exported graph has {len(found)} tables of shape {rows}×{table.dim}, expected one word table; "
            'set query_backend = "torch"'
        )
    return found[0]


def _point_at_word_table(initializer: TensorProto, table: _WordTable) -> None:
    """Make an initializer the full word table, stored in ``WORD_TABLE_FILE`` beside the model."""
    from onnx import TensorProto

    name = initializer.name
    initializer.Clear()
    initializer.name = name
    initializer.data_type = TensorProto.FLOAT
    initializer.dims.extend([table.rows, table.dim])
    initializer.data_location = TensorProto.EXTERNAL
    for key, value in (("location", WORD_TABLE_FILE), ("offset", "0"), ("length", str(table.rows * table.dim * 4))):
        entry = initializer.external_data.add()
        entry.key, entry.value = key, value


def _use_placeholder(initializer: TensorProto, table: _WordTable) -> None:
    """Make an initializer a zero placeholder table (to quantize a graph without reading the real one)."""
    from onnx import numpy_helper

    name = initializer.name
    initializer.CopyFrom(numpy_helper.from_array(np.zeros((table.placeholder_rows, table.dim), np.float32), name))


def _add_int8(directory: Path) -> None:
    """Quantize the fp32 model's weight matrix products to int8, beside it (checked like the export)."""
    with _temporary_dir(directory.parent, directory.name + "-int8") as tmp:
        write_int8(directory, tmp / INT8_FILE)
        references = list(np.load(directory / "probe_vectors.npy", allow_pickle=False))
        agreement = _agreement(OnnxEncoder(tmp, threads=1, int8=True), references)
        if agreement < QUERY_AGREEMENT:
            raise ConfigError(
                f'the int8 model agrees with fp32 only to cosine {agreement:.4f}; use query_backend "onnx"'
            )
        os.replace(tmp / INT8_FILE, directory / INT8_FILE)


def write_int8(directory: Path, target: Path, op_types: Sequence[str] = ("MatMul",)) -> None:
    """Write a dynamically int8-quantized copy of ``directory``'s fp32 model to ``target``.

    The graph is quantized with the placeholder word table (the real one is not quantized,
    and reading it would cost 384 MB), then pointed at ``WORD_TABLE_FILE``, which is linked
    into ``target``'s folder with the tokenizer and conversion record so that it loads there.

    Args:
        directory: a conversion made by ``ensure_onnx_model``.
        target: the int8 model file to write.
        op_types: the operators to quantize ("MatMul"; "Attention" too quantizes the fused
            query/key/value projections as well, ``bench.ingest`` measures both).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    info = json.loads((directory / INFO_FILE).read_text(encoding="utf-8"))
    table = _WordTable(**info["word_table"])
    model = onnx.load(str(directory / MODEL_FILE), load_external_data=False)
    _use_placeholder(_word_table_initializer(model, table, placeholder=False), table)
    with _quiet_logging():  # "consider running pre-processing" goes to the root logger
        quantize_dynamic(
            model,
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(op_types),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    del model
    quantized = onnx.load(str(target))
    _point_at_word_table(_word_table_initializer(quantized, table, placeholder=True), table)
    onnx.save_model(quantized, str(target))
    for name in (WORD_TABLE_FILE, "tokenizer.json", INFO_FILE):
        if target.parent != directory and not (target.parent / name).exists():
            _link(directory / name, target.parent / name)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        os.symlink(source, target)


def _agreement(encoder: OnnxEncoder, references: list[np.ndarray]) -> float:
    return min(float(encoder.encode(text) @ vector) for text, vector in zip(PROBE_TEXTS, references))


class _quiet_logging:
    """Silence library log records below ERROR for the duration of a block."""

    def __enter__(self) -> None:
        logging.disable(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        logging.disable(logging.NOTSET)


def _max_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text(encoding="utf-8")).get("max_seq_length", 512))
    return 512


def _reference(wrapped: torch.nn.Module, out: Path) -> list[np.ndarray]:
    """PyTorch vectors of the probe texts, tokenized exactly as the encoder does."""
    import torch
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    vectors = []
    with torch.no_grad():
        for text in PROBE_TEXTS:
            ids = torch.tensor([tokenizer.encode(text).ids])
            vector = wrapped(ids, torch.ones_like(ids))[0].numpy()
            vectors.append((vector / max(np.linalg.norm(vector), 1e-12)).astype(np.float32))
    return vectors


def _pooled_module(model: torch.nn.Module, pooling: str, normalized: bool) -> torch.nn.Module:
    """The transformer plus sentence-transformers' pooling (and normalization), as one torch module."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if pooling == "cls":
                vector = states[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(states.dtype)
                vector = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(vector, dim=-1) if normalized else vector

    return Pooled().eval()


class OnnxEncoder:
    """Texts through the ONNX model: tokenize, run, return unit vectors."""

    def __init__(self, directory: Path, threads: int, int8: bool = False, max_length: int | None = None) -> None:
        from tokenizers import Tokenizer

        self.directory = directory
        self.threads = max(1, threads)
        self.model_file = directory / (INT8_FILE if int8 else MODEL_FILE)
        info_path = directory / INFO_FILE
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length or int(info.get("max_length", 512)))
        self.passages = bool(info.get("passages")) and not int8
        self.session = _session(self.model_file, self.threads)

    def with_threads(self, threads: int) -> OnnxEncoder:
        """The same model and tokenizer (the tokenizer held once) on a session of its own with ``threads`` threads."""
        other = copy.copy(self)
        other.threads = max(1, threads)
        other.session = _session(self.model_file, other.threads)
        return other

    def encode(self, text: str) -> np.ndarray:
        """The unit-length vector of one text (already prefixed), float32, shape (dim,)."""
        ids = np.asarray([self.tokenizer.encode(text).ids], dtype=np.int64)
        vector = self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        norm = float(np.linalg.norm(vector))
        return (vector / norm if norm > 0 else vector).astype(np.float32)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of texts (already prefixed), truncated to the model's maximum length."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors of several texts (already prefixed), padded to the longest."""
        return self.encode_ids(self.tokenize(texts))

    def encode_ids(self, token_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Unit-length vectors of tokenized texts (from ``tokenize``), padded to the longest."""
        longest = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), longest), dtype=np.int64)
        mask = np.zeros((len(token_ids), longest), dtype=np.int64)
        for row, row_ids in enumerate(token_ids):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1
        vectors = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _session(model_file: Path, threads: int) -> InferenceSession:
    """An ONNX Runtime session of a model file on ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Worker threads spin between the operators of one run (ONNX Runtime's default). On the
    # idle 2-core machine: query p50 9.3 ms spinning vs 15.3 ms sleeping; the load test with
    # 4 clients lost 7 % throughput to spinning, and on a machine busy with other processes
    # sleeping threads did better (int8 p50 17 vs 23 ms). Stopping the spin after each run
    # ("session.force_spinning_stop") was slowest of all (17.4 ms). bench/README.md.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    # Every batch has another shape: a memory plan made for one shape does not fit the next.
    options.enable_mem_pattern = False
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
