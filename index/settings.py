"""One frozen Settings object, built once at the edge.

Precedence, lowest first: defaults, the config file (``policyqa.toml`` in the
working directory, or the file named by ``POLICYQA_CONFIG``), environment
variables ``POLICYQA_<NAME>``, then explicit overrides from the CLI or UI.
This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from index.errors import ConfigError

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
ENV_PREFIX = "POLICYQA_"


@dataclass(frozen=True)
class Settings:
    """Every tunable of the product, with its default."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path(".index")
    cache_dir: Path = Path(".cache")  # converted models and the embedding cache
    embedding_model: str = DEFAULT_MODEL
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    embed_batch_size: int = 16
    # Chunk size and overlap in characters; chosen on the dev set (README, "Retrieval").
    chunk_size: int = 500
    chunk_overlap: int = 100
    # "bigram" (character pairs) or "jieba" (words) for BM25; bigrams measured better on the
    # dev set (README, "Retrieval") and do not depend on jieba's segmentation being right.
    lexical_tokenizer: str = "bigram"
    top_k: int = 10
    answer_mode: str = "extractive"
    refusal_text: str = "根据现有文档，无法回答这个问题。"
    max_question_chars: int = 500
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 30.0
    host: str = "127.0.0.1"
    port: int = 7860
    allowed_origins: tuple[str, ...] = ()
    max_upload_mb: int = 20
    # Larger files in the corpus folder are skipped with a message (issue: 200 MB files).
    max_document_mb: int = 50
    threads: int = 2

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (values are coerced like env values)."""
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})


def _field_types() -> dict[str, Any]:
    return {f.name: f.default for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    defaults = _field_types()
    if name not in defaults:
        raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(sorted(defaults))}")
    default = defaults[name]
    try:
        if isinstance(default, Path):
            return Path(value).expanduser()
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            return tuple(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} cannot be {value!r}: {exc}") from exc


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the Settings from defaults, config file, environment and overrides.

    Args:
        config_file: a TOML file; defaults to ``$POLICYQA_CONFIG`` or ``./policyqa.toml``.
        overrides: values from the command line or UI; ``None`` values are ignored.
    Returns:
        The frozen Settings.
    """
    values: dict[str, Any] = {}
    path = config_file or Path(os.environ.get(ENV_PREFIX + "CONFIG", "policyqa.toml"))
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    elif config_file is not None:
        raise ConfigError(f"config file {config_file} does not exist")
    for name in _field_types():
        env_value = os.environ.get(ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = env_value
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**{k: _coerce(k, v) for k, v in values.items()})


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, field name) for every setting, for help texts."""
    return [(ENV_PREFIX + f.name.upper(), str(f.default), f.name) for f in fields(Settings)]
