"""Fitting the prompt to the model's context: how big it is, what text costs, which passages go in.

Models served by Ollama and llama.cpp run with 2048–8192-token contexts by default, and five
passages of 500 Chinese characters do not fit the smaller ones (4 558 tokens for SmolLM2's
tokenizer, issue 18). So, per question:

1. The context size is ``llm_context_tokens`` when set; otherwise what the server says
   (llama.cpp ``GET /props``: ``default_generation_settings.n_ctx``, the size of one slot;
   Ollama ``POST /api/show``: ``num_ctx`` in its parameters, else the model's own context
   length up to Ollama's default of 4096); otherwise ``DEFAULT_CONTEXT_TOKENS``.
2. The reply gets ``llm_answer_tokens`` (at most half the context), the system prompt and
   the question what they cost, ``MARGIN_TOKENS`` the chat template's role markers; the
   passages get the rest.
3. The five best passages go in whole when they fit; otherwise their sentences most similar
   to the question, best first, as many as fit, each passage keeping its sentences in
   document order (``fit_passages``). Token counts come from the server's tokenizer when it
   has one (llama.cpp ``POST /tokenize``; the whole prompt is counted again at the end and
   fitted anew if it ran over), else from ``estimate_tokens``.

A context-size error from the server gets one retry with half the passages
(``qa.llm.GeneratedAnswerer``), then the extractive answer.
"""

from __future__ import annotations

import http.client
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from index.types import Sentence
from qa.types import Hit

# When the server does not say (vLLM, hosted APIs): small enough for the usual local
# defaults, which run from 2048 to 8192 tokens (issue 18).
DEFAULT_CONTEXT_TOKENS = 4096
# Ollama runs a model at this context unless its parameters say num_ctx (Ollama's default).
OLLAMA_DEFAULT_CONTEXT = 4096
# Chat-template tokens around the messages (role markers, start and end tokens) plus slack
# for counts estimated per sentence: SmolLM2's template adds 14 around two messages.
MARGIN_TOKENS = 32
# Tokenizer unknown: a Chinese character costs 2 tokens, other text 1 per 3 characters.
# SmolLM2 spends 1.76 tokens per character of this corpus (86 335 for the first 20 000
# characters of each document; this estimate says 88 427); tokenizers trained on Chinese
# (Qwen, DeepSeek) spend fewer, so they are given less than they could take, not too much.
CJK_TOKENS = 2.0
OTHER_TOKENS_PER_CHAR = 1 / 3
CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]")
# Between the sentences of a cut passage.
GAP = "……"
# Asking the server about itself must not hold up an answer.
DISCOVERY_TIMEOUT_S = 5.0


def estimate_tokens(text: str) -> int:
    """A generous token count for ``text`` when the model's tokenizer cannot be asked."""
    cjk = len(CJK.findall(text))
    return math.ceil(cjk * CJK_TOKENS + (len(text) - cjk) * OTHER_TOKENS_PER_CHAR)


# --- asking the server ------------------------------------------------------------------------


def server_root(chat_url: str) -> str:
    """The server's own root URL from its chat-completions URL (``…/v1/chat/completions`` → ``…``)."""
    root = chat_url.rstrip("/")
    for suffix in ("/chat/completions", "/v1"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
    return root


def http_connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    """A connection (not opened yet) to ``url``'s server, and the path to request there.

    Raises:
        OSError: the URL names no host.
    """
    parts = urlsplit(url)
    if not parts.hostname:
        raise OSError(f"no host in {url!r}")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return connection_class(parts.hostname, parts.port, timeout=timeout), path


def http_json(
    url: str, body: dict | None = None, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> object:
    """GET (or POST ``body`` to) ``url``: its JSON, or None for a reply that is not 200 or not JSON.

    Raises:
        OSError, http.client.HTTPException: the server could not be reached or broke off.
    """
    connection, path = http_connection(url, timeout)
    try:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        all_headers = {"Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        connection.request("GET" if body is None else "POST", path, body=data, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        if response.status != 200:
            return None
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    finally:
        connection.close()


def llama_cpp_context(props: object) -> int | None:
    """The context of one slot from llama.cpp's ``/props``, or None if this is not its shape."""
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    n_ctx = n_ctx if isinstance(n_ctx, int) else props.get("n_ctx")
    return n_ctx if isinstance(n_ctx, int) and not isinstance(n_ctx, bool) and n_ctx > 0 else None


def ollama_context(show: object) -> int | None:
    """The context Ollama runs a model at, from its ``/api/show``, or None if this is not its shape."""
    if not isinstance(show, dict) or not any(key in show for key in ("parameters", "model_info", "modelfile")):
        return None
    parameters = show.get("parameters")
    if isinstance(parameters, str):
        found = re.search(r"^\s*num_ctx\s+(\d+)", parameters, re.M)
        if found:
            return int(found.group(1))
    info = show.get("model_info")
    trained = [v for k, v in (info.items() if isinstance(info, dict) else ()) if k.endswith(".context_length") and v]
    if trained and isinstance(trained[0], int):
        return min(trained[0], OLLAMA_DEFAULT_CONTEXT)
    return OLLAMA_DEFAULT_CONTEXT


@dataclass(frozen=True)
class ServerContext:
    """What the server said about itself."""

    tokens: int  # the context size in tokens
    source: str  # "setting", "llama.cpp", "ollama" or "default"
    can_tokenize: bool  # llama.cpp's POST /tokenize counts tokens exactly


def discover_context(root: str, model: str, headers: dict[str, str], timeout: float) -> ServerContext | None:
    """Ask the server at ``root`` its context size; None when it could not be reached."""
    timeout = min(timeout, DISCOVERY_TIMEOUT_S)
    try:
        n_ctx = llama_cpp_context(http_json(root + "/props", headers=headers, timeout=timeout))
        if n_ctx:
            return ServerContext(n_ctx, "llama.cpp", True)
        if model:
            n_ctx = ollama_context(http_json(root + "/api/show", {"model": model}, headers, timeout))
            if n_ctx:
                return ServerContext(n_ctx, "ollama", False)
    except (OSError, http.client.HTTPException):
        return None
    return ServerContext(DEFAULT_CONTEXT_TOKENS, "default", False)


def server_token_counts(root: str, texts: Sequence[str], headers: dict[str, str], timeout: float) -> list[int] | None:
    """Exact token counts from llama.cpp's ``POST /tokenize``; None if any count failed."""
    counts = []
    for text in texts:
        try:
            reply = http_json(root + "/tokenize", {"content": text}, headers, min(timeout, DISCOVERY_TIMEOUT_S))
        except (OSError, http.client.HTTPException):
            return None
        tokens = reply.get("tokens") if isinstance(reply, dict) else None
        if not isinstance(tokens, list):
            return None
        counts.append(len(tokens))
    return counts


# --- choosing the passages ----------------------------------------------------------------------


@dataclass(frozen=True)
class GivenPassage:
    """A passage as the prompt gives it: whole, or cut to some of its sentences."""

    hit: Hit  # the retrieved passage (its offsets, title and date go into citations)
    text: str  # what the prompt shows
    sentences: tuple[Sentence, ...]  # the sentences shown (a citation quotes one of them)
    trimmed: bool


def passage_header(n: int, hit: Hit) -> str:
    """The line that opens passage ``n`` in the prompt: 「[n] 《title》（日期：…）」."""
    return f"[{n}] 《{hit.title}》（日期：{hit.date or '不详'}）"


def passage_block(n: int, hit: Hit, text: str) -> str:
    """Passage ``n`` as the prompt shows it: header line, then the text."""
    return f"{passage_header(n, hit)}\n{text}"


def fit_passages(
    hits: Sequence[Hit],
    sentences: Sequence[Sequence[Sentence]],
    scores: Sequence[Sequence[float]],
    whole_costs: Sequence[int],
    budget: int,
    cost: Callable[[str], int],
) -> list[GivenPassage]:
    """The passages that fit ``budget`` tokens: all of them whole if they fit, else their best sentences.

    When the passages do not all fit, sentences are taken best first (highest score; ties in
    passage order) while they fit, each passage's header counted with its first sentence; every
    passage then shows its taken sentences in document order. A passage none of whose sentences
    fit is left out.

    Args:
        hits: candidate passages, best first.
        sentences: each passage's sentences, in document order.
        scores: each sentence's similarity to the question (same shape as ``sentences``).
        whole_costs: the tokens of each whole passage as the prompt shows it (header, text, separator).
        budget: tokens the passages may take together.
        cost: tokens of any other text.
    Returns:
        The given passages in the order of ``hits``.
    """
    if len(whole_costs) != len(hits) or len(sentences) != len(hits) or len(scores) != len(hits):
        raise ValueError("hits, sentences, scores and whole_costs must be as long as each other")
    if sum(whole_costs) <= budget:
        return [GivenPassage(hit, hit.text.strip(), tuple(own), False) for hit, own in zip(hits, sentences)]
    ranked = sorted(
        ((i, j) for i, own in enumerate(sentences) for j in range(len(own))),
        key=lambda ij: (-scores[ij[0]][ij[1]], ij[0], ij[1]),
    )
    taken: dict[int, set[int]] = {i: set() for i in range(len(hits))}
    left = budget
    for i, j in ranked:
        price = cost(GAP + sentences[i][j].text.strip())
        if not taken[i]:
            price += cost(passage_header(len(hits), hits[i]) + "\n\n\n")
        if price <= left:
            taken[i].add(j)
            left -= price
    given = []
    for i, hit in enumerate(hits):
        kept = [sentences[i][j] for j in sorted(taken[i])]
        if kept:
            given.append(GivenPassage(hit, join_sentences(kept), tuple(kept), len(kept) < len(sentences[i])))
    return given


def join_sentences(chosen: Sequence[Sentence]) -> str:
    """Sentences of one passage in document order, 「……」 where text between them was left out."""
    parts: list[str] = []
    for previous, sentence in zip([None, *chosen], chosen):
        if previous is not None and sentence.start > previous.end + 1:
            parts.append(GAP)
        parts.append(sentence.text.strip())
    return "".join(parts)


def halve(given: Sequence[GivenPassage]) -> list[GivenPassage]:
    """Half the passages (the better half); a single passage keeps the first half of its sentences."""
    if len(given) > 1:
        return list(given[: len(given) // 2])
    if not given or len(given[0].sentences) < 2:
        return []
    only = given[0]
    kept = only.sentences[: len(only.sentences) // 2]
    return [GivenPassage(only.hit, join_sentences(kept), kept, True)]
