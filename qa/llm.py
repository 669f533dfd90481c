"""Optional generated answers from an OpenAI-compatible chat-completions endpoint.

Used only when ``settings.llm_base_url`` is set (Ollama, vLLM, llama.cpp server,
DeepSeek, Qwen …) and ``settings.answer_mode`` allows it; nothing else needs a model.

    passages → prompt (numbered, with title and date) → streamed reply (SSE)
             → markers repaired (【1】, [ID:1], [1,2] → [1][2]), markers to passages not given dropped
             → each (sentence, passage) cited by the passage's best-matching sentence, markers renumbered

The prompt is fitted to the model's context first (``qa.llm_context``): as many passages
as fit beside the reply, the last ones cut to their best sentences, and one retry with half
of them when the server still says the prompt is too long. The reply is then checked like
any answer (``qa.figures``). Any failure raises ``LLMError`` with a reason a person can read;
the pipeline falls back to the extractive answer and shows that reason as a note. Only the
standard library speaks HTTP here, so no client package is required.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import threading
import time
import unicodedata
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from index.errors import ConfigError
from index.settings import Settings
from index.types import Sentence
from qa.answering import Draft
from qa.evidence import Evidence
from qa.figures import MARKER, MARKER_GROUP, cited_spans, figures_in, is_stated_by, uncited_sentences
from qa.llm_context import (
    DEFAULT_CONTEXT_TOKENS,
    MARGIN_TOKENS,
    GivenPassage,
    ServerContext,
    discover_context,
    estimate_tokens,
    fit_passages,
    halve,
    http_connection,
    passage_block,
    server_root,
    server_token_counts,
)
from qa.numbers import find_quantities
from qa.query import QuestionInfo
from qa.text import char_bigrams
from qa.types import Citation, Hit

# The passages put in the prompt (as many as the extractive answerer reads).
PASSAGES_FOR_LLM = 5
# Answer modes: "auto" uses the endpoint when one is configured; "llm" requires one.
ANSWER_MODES = ("auto", "extractive", "llm")
# A whole reply may take this many times the idle timeout (a server that trickles
# keep-alive bytes forever must not hold the answer forever).
TOTAL_TIMEOUT_FACTOR = 4
# The reply may take at most this share of the context; the prompt gets the rest.
MAX_ANSWER_SHARE = 0.5
# A prompt the server counts over its budget is fitted again to a budget smaller by the excess,
# at most this many times (SmolLM2 on the dev set: one prompt of 37 was 16 tokens over before this).
MAX_REFITS = 2
# A rewritten follow-up longer than this is not a question but a model's chatter.
MAX_REWRITE_CHARS = 200

SYSTEM_PROMPT = """你是政策文件问答助手，只根据用户给出的编号段落回答问题。
规则：
1. 只能使用这些段落里的信息，不得使用段落以外的任何知识，不得推测。
2. 每一句话的末尾都必须标注它依据的段落编号，格式为[n]，例如：……累计投入6601亿元[2]。一句话依据多个段落时写成[1][3]。
3. 数字、年份必须与段落原文完全一致，不要换算、不要估算、不要四舍五入。
4. 回答简洁，不超过三句话，用中文。
5. 如果这些段落不能回答问题，只回答这一句：{refusal}"""

# Malformed markers models write, and what they mean.
# Parenthesized numbers are left alone: 「（2020）」 or a list's 「（1）」 are text, not markers.
BRACKETED = re.compile(
    r"[\[【［〔]\s*\^?\s*(?:(?:ID|id|Id|passage|Passage|段落|来源|文档|资料|引用|编号|第)\s*[:：#]?\s*)?"
    r"(\d{1,3}(?:\s*(?:[,，、;；]|-|–|~|至)\s*\d{1,3})*)\s*(?:段)?\s*[\]】］〕]"
)
THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S)
LINE_BREAKS = re.compile(r"\n{2,}")
# What servers say when the prompt does not fit: llama.cpp 「request (4558 tokens) exceeds the
# available context size (2048 tokens)」 (type exceed_context_size_error), vLLM 「This model's
# maximum context length is 4096 tokens」, OpenAI's code context_length_exceeded.
CONTEXT_ERROR = re.compile(
    r"exceed_context_size|context_length_exceeded|exceeds? the (?:available )?context|maximum context length"
    r"|context (?:size|length|window) (?:exceeded|is too small)|prompt is too long|too many tokens",
    re.I,
)


class LLMError(Exception):
    """The endpoint could not give a usable answer; ``str(exc)`` is a reason for a person (Chinese).

    ``notes`` says what a reader of the fallback answer should still know (the passages the
    model was given); ``timings_ms`` how fast the model wrote a reply that was then not used.
    """

    def __init__(self, message: str, notes: Sequence[str] = (), timings_ms: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.notes = tuple(notes)
        self.timings_ms = dict(timings_ms or {})


class ContextTooSmall(LLMError):
    """The server refused the prompt as longer than its context."""

    def __init__(self, message: str, n_ctx: int | None = None) -> None:
        super().__init__(message)
        self.n_ctx = n_ctx


@dataclass
class Usage:
    """Token counts of one reply, filled in by ``ChatClient.stream`` when the server reports them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    pieces: int = 0  # text pieces received (about one token each when the server does not count)


def llm_enabled(settings: Settings) -> bool:
    """True if answers are to be generated by the configured endpoint.

    Raises:
        ConfigError: ``answer_mode`` is unknown, or "llm" without ``llm_base_url``.
    """
    mode = settings.answer_mode
    if mode not in ANSWER_MODES:
        raise ConfigError(f"answer_mode must be one of {', '.join(ANSWER_MODES)}, not {mode!r}")
    if mode == "llm" and not settings.llm_base_url:
        raise ConfigError(
            "answer_mode 'llm' needs llm_base_url (POLICYQA_LLM_BASE_URL), e.g. http://127.0.0.1:11434/v1"
        )
    return mode != "extractive" and bool(settings.llm_base_url)


# --- the prompt -------------------------------------------------------------------------------


def whole(hit: Hit, sentences: Sequence[Sentence] = ()) -> GivenPassage:
    """A passage given whole."""
    return GivenPassage(hit, hit.text.strip(), tuple(sentences), False)


def prompt_text(text: str) -> str:
    """A passage's text as the prompt shows it (runs of blank lines made one line break)."""
    return LINE_BREAKS.sub("\n", text.strip())


def format_passages(given: Sequence[GivenPassage]) -> str:
    """The passages as the prompt numbers them: 「[n] 《title》（日期：…）」 then the text."""
    return "\n\n".join(passage_block(n, p.hit, prompt_text(p.text)) for n, p in enumerate(given, start=1))


def build_messages(question: str, given: Sequence[GivenPassage], refusal_text: str) -> list[dict[str, str]]:
    """The chat messages asking for a cited answer to ``question`` from the ``given`` passages only."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(refusal=refusal_text)},
        {"role": "user", "content": f"段落：\n\n{format_passages(given)}\n\n问题：{question}"},
    ]


# --- the endpoint -------------------------------------------------------------------------------


class ChatClient:
    """A minimal client of ``POST {base_url}/chat/completions``, streaming or not, that also asks
    the server its context size and token counts where it can (``qa.llm_context``)."""

    def __init__(self, settings: Settings) -> None:
        base = settings.llm_base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"llm_base_url must be an http(s) URL such as http://127.0.0.1:11434/v1, not {base!r}")
        if settings.llm_context_tokens < 0 or settings.llm_answer_tokens < 1:
            raise ConfigError("llm_context_tokens must be 0 (ask the server) or more, llm_answer_tokens 1 or more")
        self.root = server_root(self.url)
        self.model = settings.llm_model
        self.api_key = settings.llm_api_key
        self.timeout_s = settings.llm_timeout_s
        self.answer_tokens = settings.llm_answer_tokens
        self._context_setting = settings.llm_context_tokens
        self._context: ServerContext | None = None
        self._context_lock = threading.Lock()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def context(self) -> ServerContext:
        """The model's context: ``llm_context_tokens`` when set, else what the server says (asked
        once, again after a failure to reach it), else ``DEFAULT_CONTEXT_TOKENS``."""
        with self._context_lock:
            if self._context is None:
                self._context = discover_context(self.root, self.model, self._headers(), self.timeout_s)
            found = self._context
        if self._context_setting:
            return ServerContext(self._context_setting, "setting", bool(found and found.can_tokenize))
        return found or ServerContext(DEFAULT_CONTEXT_TOKENS, "default", False)

    def learn_context(self, n_ctx: int) -> None:
        """Remember the context size a server named in an error (the setting, when given, still wins)."""
        if n_ctx > 0:
            with self._context_lock:
                can_tokenize = bool(self._context and self._context.can_tokenize)
                self._context = ServerContext(n_ctx, "server error", can_tokenize)

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Exact token counts from the server's tokenizer (llama.cpp's ``/tokenize``; see
        ``context().can_tokenize``), or None when it gave none."""
        return server_token_counts(self.root, texts, self._headers(), self.timeout_s)

    def stream(
        self, messages: Sequence[dict[str, str]], max_tokens: int | None = None, usage: Usage | None = None
    ) -> Iterator[str]:
        """The reply's text pieces as the server sends them (server-sent events).

        A server that answers with one JSON object instead of events is accepted too.

        Args:
            messages: the chat messages.
            max_tokens: the longest reply (default ``llm_answer_tokens``).
            usage: filled in with the reply's token counts when the server reports them.
        Raises:
            ContextTooSmall: the server says the prompt does not fit its context.
            LLMError: no connection, HTTP error, no reply within the timeout, or a malformed reply.
        """
        usage = usage if usage is not None else Usage()
        yield from self._request(messages, max_tokens or self.answer_tokens, True, usage)

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int | None = None) -> str:
        """The whole reply at once.

        Raises:
            LLMError: as ``stream``.
        """
        return "".join(self._request(messages, max_tokens or self.answer_tokens, False, Usage()))

    def _request(
        self, messages: Sequence[dict[str, str]], max_tokens: int, stream: bool, usage: Usage
    ) -> Iterator[str]:
        body: dict[str, object] = {
            "messages": list(messages),
            "stream": stream,
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}  # the reply's token count, for tokens/s
        if self.model:
            body["model"] = self.model
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
        headers.update(self._headers())
        connection, path = http_connection(self.url, self.timeout_s)  # __init__ checked the URL has a host
        deadline = time.monotonic() + self.timeout_s * TOTAL_TIMEOUT_FACTOR
        try:
            connection.request("POST", path, body=json.dumps(body, ensure_ascii=False).encode("utf-8"), headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                raise _status_error(response.status, response.read(ERROR_BODY_BYTES).decode("utf-8", "replace"))
            if "text/event-stream" in (response.getheader("Content-Type") or ""):
                yield from _events(response, connection, deadline, self.timeout_s, usage)
            else:
                data = _json(response.read())
                _read_usage(data, usage)
                yield _message_content(data)
        except TimeoutError:
            raise LLMError(f"请求超时（{self.timeout_s:g} 秒内没有回应）") from None
        except (OSError, http.client.HTTPException) as exc:
            raise LLMError(f"无法连接大模型服务 {self.url}（{exc.__class__.__name__}）") from None
        finally:
            connection.close()


# An error reply is read this far (llama.cpp's context error is about 250 bytes).
ERROR_BODY_BYTES = 2000


def _status_error(status: int, body: str) -> LLMError:
    """The error for a reply with HTTP ``status``: ContextTooSmall when the body says the prompt is too long."""
    detail = body.strip()
    message = detail
    n_ctx = None
    try:
        error = json.loads(detail).get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or detail)
            n_ctx = error.get("n_ctx") if isinstance(error.get("n_ctx"), int) else None
            if CONTEXT_ERROR.search(str(error.get("type") or "") + " " + str(error.get("code") or "")):
                message = message or "context"
                return ContextTooSmall(f"提示超出了大模型的上下文长度（HTTP {status}：{message[:300]}）", n_ctx)
        elif isinstance(error, str):
            message = error
    except (json.JSONDecodeError, AttributeError):
        pass
    if CONTEXT_ERROR.search(detail):
        return ContextTooSmall(f"提示超出了大模型的上下文长度（HTTP {status}：{message[:300]}）", n_ctx)
    return LLMError(f"服务返回错误 HTTP {status}" + (f"：{message[:300]}" if message else ""))


def _json(raw: bytes) -> dict:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LLMError("大模型服务的回复不是 JSON") from None
    if not isinstance(data, dict):
        raise LLMError("大模型服务的回复格式不对")
    if "error" in data:
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise LLMError(f"大模型服务报错：{message}")
    return data


def _message_content(data: dict) -> str:
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"] if "message" in choice else choice.get("text", "")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LLMError("大模型服务的回复里没有答案（缺少 choices）") from None
    return content if isinstance(content, str) else ""


def _delta_content(data: dict) -> str:
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError):
        return ""  # e.g. a final usage-only event
    if not isinstance(choice, dict):
        return ""
    delta = choice.get("delta")
    piece = (delta.get("content") if isinstance(delta, dict) else None) or choice.get("text") or ""
    return piece if isinstance(piece, str) else ""


def _read_usage(data: dict, usage: Usage) -> None:
    counts = data.get("usage")
    if isinstance(counts, dict):
        for name in ("prompt_tokens", "completion_tokens"):
            if isinstance(counts.get(name), int):
                setattr(usage, name, counts[name])


def _events(
    response: http.client.HTTPResponse,
    connection: http.client.HTTPConnection,
    deadline: float,
    idle_s: float,
    usage: Usage,
) -> Iterator[str]:
    """The text pieces of a server-sent-events reply, until ``data: [DONE]`` or the end."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LLMError(f"请求超时（回答超过 {idle_s * TOTAL_TIMEOUT_FACTOR:g} 秒仍未完成）")
        if connection.sock is not None:
            connection.sock.settimeout(min(idle_s, remaining))
        raw = response.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue  # blank separators, comments (":"), event names
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        data = _json(payload.encode("utf-8"))
        _read_usage(data, usage)
        piece = _delta_content(data)
        if piece:
            usage.pieces += 1
            yield piece


def visible_pieces(pieces: Iterator[str]) -> Iterator[str]:
    """The pieces without a reasoning model's ``<think>…</think>`` block."""
    buffer, thinking = "", False
    for piece in pieces:
        buffer += piece
        while buffer:
            if thinking:
                end = buffer.find("</think>")
                if end < 0:
                    buffer = buffer[-len("</think>") :]
                    break
                buffer, thinking = buffer[end + len("</think>") :], False
                continue
            start = buffer.find("<think>")
            if start >= 0:
                if start:
                    yield buffer[:start]
                buffer, thinking = buffer[start + len("<think>") :], True
                continue
            cut = buffer.rfind("<")  # a tag may be split across pieces: hold back a possible start
            if cut >= 0 and "<think>".startswith(buffer[cut:]):
                if cut:
                    yield buffer[:cut]
                buffer = buffer[cut:]
            else:
                yield buffer
                buffer = ""
            break
    if buffer and not thinking:
        yield buffer


# --- after generation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Repaired:
    """A reply with canonical [n] markers."""

    text: str
    removed: tuple[int, ...]  # markers that pointed at passages not given


def repair_markers(text: str, passages: int) -> Repaired:
    """Rewrite 【1】, ［1］, [^1], [ID:1], [段落1], [1,2], [1-3] as [1], [1][2], [1][2][3];
    drop numbers outside 1..passages.

    Args:
        text: the model's reply.
        passages: how many passages the prompt numbered.
    """
    removed: list[int] = []

    def canonical(match: re.Match) -> str:
        numbers: list[int] = []
        for low, sep, high in re.findall(r"(\d+)(?:\s*(-|–|~|至)\s*(\d+))?", match.group(1)):
            a, b = int(low), int(high) if high else int(low)
            numbers.extend(range(a, b + 1) if sep and a <= b <= a + passages else [a] + ([b] if high else []))
        kept = [n for n in dict.fromkeys(numbers) if 1 <= n <= passages]
        removed.extend(n for n in numbers if not 1 <= n <= passages)
        return "".join(f"[{n}]" for n in kept)

    repaired = BRACKETED.sub(canonical, text)
    repaired = re.sub(r"[ \t]+(?=\[\d+\])", "", repaired)
    return Repaired(repaired, tuple(dict.fromkeys(removed)))


def strip_thinking(text: str) -> str:
    """The reply without ``<think>…</think>`` and surrounding blank space."""
    return THINK.sub("", text).strip()


def is_refusal(text: str, refusal_text: str) -> bool:
    """True if the reply is the fixed refusal (markers, spaces and punctuation aside)."""

    def bare(s: str) -> str:
        s = unicodedata.normalize("NFKC", MARKER.sub("", s))
        return re.sub(r"[\s\W_]+", "", s)

    reply, refusal = bare(text), bare(refusal_text)
    return bool(refusal) and refusal in reply and len(reply) <= len(refusal) + 10


@dataclass(frozen=True)
class Grounded:
    """A generated answer tied to its sources: markers renumbered, one citation per (sentence, passage)."""

    text: str
    citations: tuple[Citation, ...]
    snippets: dict[int, str]  # new marker → the text it cites, for figure checks


def _bigrams(text: str) -> frozenset[str]:
    return char_bigrams(re.sub(r"[^\w]", "", MARKER.sub("", text)), drop=frozenset())


def best_sentence(span_text: str, sentences: Sequence[Sentence]) -> Sentence | None:
    """The sentence of a passage that best supports a span of the answer.

    Sentences stating the span's figures come first, then the most shared character pairs.
    """
    figures = figures_in(span_text)
    words = _bigrams(span_text)

    def score(sentence: Sentence) -> tuple[int, float]:
        stated = find_quantities(sentence.text)
        held = sum(any(is_stated_by(f, q) for q in stated) for f in figures)
        shared = len(words & _bigrams(sentence.text)) / (len(words) or 1)
        return held, shared

    return max(sentences, key=score, default=None)


def passage_snippet(passage: GivenPassage) -> str:
    """What a passage's marker cites, for figure checks: its text, title and date as the prompt gave them."""
    return f"{passage.hit.title}\n{passage.hit.date or ''}\n{passage.text}"


def ground(text: str, given: Sequence[GivenPassage]) -> Grounded:
    """Cite each (span, passage) of a repaired reply by its best sentence; renumber markers 1, 2, …

    Args:
        text: the reply with canonical markers [n], n the passage's number in the prompt.
        given: the passages of the prompt, in prompt order (a cut passage's citation quotes
            one of the sentences it showed).
    """
    new_marker: dict[tuple[int, int], int] = {}
    citations: list[Citation] = []
    snippets: dict[int, str] = {}
    out: list[str] = []
    for span in cited_spans(text):
        piece = text[span.start : span.end]
        if not span.markers:
            out.append(piece)
            continue
        markers = []
        for n in dict.fromkeys(span.markers):
            passage = given[n - 1]
            sentence = best_sentence(piece, passage.sentences)
            key = (n, sentence.sentence_id if sentence else -1)
            if key not in new_marker:
                marker = new_marker[key] = len(citations) + 1
                citations.append(_citation(marker, passage.hit, sentence))
                snippets[marker] = passage_snippet(passage)
            markers.append(new_marker[key])
        group = next(MARKER_GROUP.finditer(piece))  # a cited span holds exactly one group
        renumbered = "".join(f"[{m}]" for m in markers)
        out.append(piece[: group.start()] + renumbered + piece[group.end() :])
    return Grounded("".join(out), tuple(citations), snippets)


def _citation(marker: int, hit: Hit, sentence: Sentence | None) -> Citation:
    if sentence is None:
        return Citation(
            marker, hit.doc_id, hit.title, hit.date, hit.text, hit.start, hit.end, hit.text, hit.start, hit.end
        )
    return Citation(
        marker,
        hit.doc_id,
        hit.title,
        hit.date,
        sentence.text,
        sentence.start,
        sentence.end,
        hit.text,
        hit.start,
        hit.end,
    )


# --- follow-up questions --------------------------------------------------------------------------

REWRITE_PROMPT = """把用户的追问改写成一个不依赖上文、意思完整的问题。
只输出改写后的问题本身，不要回答，不要解释。如果追问本身已经完整，原样输出。"""


def rewrite_follow_up(client: ChatClient, question: str, previous: Sequence[str]) -> str | None:
    """The self-contained form of a follow-up question, as the model writes it, or None.

    Args:
        client: the endpoint.
        question: the follow-up (「那2017年呢？」).
        previous: the user's earlier questions, oldest first.
    Returns:
        The rewritten question; None if the model wrote something that is not a question.
    Raises:
        LLMError: the endpoint failed (the caller then skips it for the answer too).
    """
    history = "\n".join(f"{i}. {q}" for i, q in enumerate(previous[-3:], start=1))
    messages = [
        {"role": "system", "content": REWRITE_PROMPT},
        {"role": "user", "content": f"之前的问题：\n{history}\n\n追问：{question}\n\n改写后的问题："},
    ]
    reply = strip_thinking(client.complete(messages, max_tokens=120))
    line = next((line.strip() for line in reply.splitlines() if line.strip()), "")
    line = re.sub(r"^(?:改写后的问题|问题)\s*[:：]\s*", "", line).strip("“”\"' ")
    if not line or len(line) > MAX_REWRITE_CHARS or line == question:
        return None
    return line


# --- the generated answer strategy -----------------------------------------------------------

NOTE_REMOVED_MARKERS = "已删除指向不存在段落的引用标记：{markers}。"
NOTE_UNCITED = "以下内容没有标注来源，无法核对：{sentences}"
NOTE_FITTED = "大模型的上下文为 {context} 个词元，只给了它检索到的前 {candidates} 段中的 {given} 段{cut}。"
NOTE_CUT = "，其中 {n} 段只给了与问题最相关的句子"
NOTE_RETRIED = "第一次请求超出了它的上下文长度，重试时段落减半。"


@dataclass(frozen=True)
class Prompt:
    """What one request gives the model."""

    given: tuple[GivenPassage, ...]
    messages: list[dict[str, str]] = field(repr=False)
    answer_tokens: int  # the longest reply asked for
    context: ServerContext


class GeneratedAnswerer:
    """The answer strategy that has the endpoint write the answer from the best passages."""

    def __init__(self, client: ChatClient, refusal_text: str) -> None:
        self.client = client
        self.refusal_text = refusal_text

    def prompt(self, info: QuestionInfo, evidence: Evidence, part_vectors: Sequence[np.ndarray]) -> Prompt:
        """The passages and messages that fit the model's context beside the reply (``qa.llm_context``)."""
        context = self.client.context()
        answer_tokens = max(1, min(self.client.answer_tokens, int(context.tokens * MAX_ANSWER_SHARE)))
        candidates = list(evidence.hits[:PASSAGES_FOR_LLM])
        own = [list(evidence.sentences_of(hit)) for hit in candidates]
        blocks = [passage_block(n, hit, prompt_text(hit.text)) + "\n\n" for n, hit in enumerate(candidates, 1)]
        fixed = build_messages(info.text, [], self.refusal_text)
        fixed_text = "".join(m["content"] for m in fixed)
        exact = self.client.count_tokens([fixed_text, *blocks]) if context.can_tokenize else None
        estimates = [estimate_tokens(t) for t in (fixed_text, *blocks)]
        counts = exact or estimates
        # Cut passages are counted by estimate, scaled to the server's count where there is one.
        scale = max([c / e for c, e in zip(counts, estimates) if e] or [1.0])
        limit = context.tokens - answer_tokens - MARGIN_TOKENS
        budget = limit - counts[0]
        scores = _similarities(own, evidence, part_vectors)
        for _ in range(MAX_REFITS + 1):
            given = fit_passages(
                candidates, own, scores, counts[1:], budget, lambda text: math.ceil(estimate_tokens(text) * scale)
            )
            prompt = self._prompt(info.text, given, answer_tokens, context)
            # Estimates of cut passages can be a little short: the server's count of the whole prompt decides.
            total = self.client.count_tokens(["".join(m["content"] for m in prompt.messages)]) if exact else None
            if not total or total[0] <= limit:
                break
            budget -= total[0] - limit
        return prompt

    def _prompt(
        self, question: str, given: Sequence[GivenPassage], answer_tokens: int, context: ServerContext
    ) -> Prompt:
        messages = build_messages(question, given, self.refusal_text)
        return Prompt(tuple(given), messages, answer_tokens, context)

    def stream(
        self, info: QuestionInfo, evidence: Evidence, part_vectors: Sequence[np.ndarray]
    ) -> Generator[str, None, Draft]:
        """Stream the model's tokens; return the reply tied to its sources.

        A prompt the server refuses as too long for its context is sent once more with half
        the passages before giving up.

        Raises:
            LLMError: the endpoint failed, or the reply cites nothing (the format was not followed).
        """
        prompt = self.prompt(info, evidence, part_vectors)
        candidates = min(len(evidence.hits), PASSAGES_FOR_LLM)
        retried = False
        while True:
            if not prompt.given:
                context, answer = prompt.context.tokens, prompt.answer_tokens
                raise LLMError(f"大模型的上下文（{context} 个词元）放不下任何一段原文和 {answer} 个词元的回答")
            pieces: list[str] = []
            usage = Usage()
            sent = time.perf_counter()
            first = last = sent
            try:
                for piece in visible_pieces(self.client.stream(prompt.messages, prompt.answer_tokens, usage)):
                    if not pieces:
                        first = time.perf_counter()
                    pieces.append(piece)
                    yield piece
                last = time.perf_counter()
                break
            except ContextTooSmall as exc:
                if pieces or retried:
                    raise
                if exc.n_ctx:
                    self.client.learn_context(exc.n_ctx)
                retried = True
                prompt = self._prompt(info.text, halve(prompt.given), prompt.answer_tokens, prompt.context)
        reply = strip_thinking("".join(pieces))
        notes = _fit_notes(prompt, candidates, retried)
        if not reply:
            raise LLMError("大模型没有给出回答", notes)
        timings = _speed(sent, first, last, usage.completion_tokens or usage.pieces)
        if is_refusal(reply, self.refusal_text):
            return Draft(self.refusal_text, (), {}, False, tuple(notes), timings_ms=timings)
        repaired = repair_markers(reply, len(prompt.given))
        if not MARKER.search(repaired.text):
            raise LLMError("大模型的回答没有标注引用来源", notes, timings)
        grounded = ground(repaired.text, prompt.given)
        if repaired.removed:
            notes.append(NOTE_REMOVED_MARKERS.format(markers="、".join(f"[{n}]" for n in repaired.removed)))
        uncited = uncited_sentences(grounded.text)
        if uncited:
            notes.append(NOTE_UNCITED.format(sentences="；".join(f"「{s}」" for s in uncited)))
        return Draft(grounded.text, grounded.citations, grounded.snippets, True, tuple(notes), timings_ms=timings)


def _similarities(
    own: Sequence[Sequence[Sentence]], evidence: Evidence, part_vectors: Sequence[np.ndarray]
) -> list[list[float]]:
    """Each passage sentence's best cosine with a part of the question (-1 when its vector is not
    in the evidence view: repeated text that counts once there)."""
    vectors = {s.sentence.sentence_id: s.vector for s in evidence.sentences}
    return [
        [
            max((float(vectors[s.sentence_id] @ v) for v in part_vectors), default=-1.0)
            if s.sentence_id in vectors
            else -1.0
            for s in sentences
        ]
        for sentences in own
    ]


def _fit_notes(prompt: Prompt, candidates: int, retried: bool) -> list[str]:
    """What a reader must know about the passages the model saw (nothing when it saw them all whole)."""
    cut = sum(p.trimmed for p in prompt.given)
    if len(prompt.given) >= candidates and not cut and not retried:
        return []
    note = NOTE_FITTED.format(
        context=prompt.context.tokens,
        candidates=candidates,
        given=len(prompt.given),
        cut=NOTE_CUT.format(n=cut) if cut else "",
    )
    return [note + (NOTE_RETRIED if retried else "")]


def _speed(sent: float, first: float, last: float, tokens: int) -> dict[str, float]:
    """Time to the first token (ms, from sending the request) and tokens per second after it."""
    timings = {"llm_first_token": round((first - sent) * 1000, 2)}
    if tokens > 1 and last > first:
        timings["llm_tokens_per_s"] = round((tokens - 1) / (last - first), 2)
    return timings
