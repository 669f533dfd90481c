"""What each control of the web app does, without Gradio: parse input, call the core, render.

``ui.app`` wires these to Gradio events; keeping them free of Gradio makes
them plain functions to test and to reuse (the REST API shares the error
messages).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from index.build import BuildReport
from index.errors import (
    DocumentError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    PolicyQAError,
)
from index.library import Library
from index.types import Document
from qa.pipeline import QAPipeline
from ui import render
from ui.feedback import AnswerMemory
from ui.security import AnswerSlots
from ui.stream import answer_stream, ends_sentence

log = logging.getLogger(__name__)

# Pause after each streamed sentence: long enough to see the answer being composed,
# short enough that a four-sentence answer is complete in a fifth of a second.
# (Within a sentence, an LLM's tokens are shown as fast as they come.)
STREAM_PAUSE_S = 0.05
# Build stages as the progress bar names them (index.build.StageProgress), and their units.
STAGE_NAMES = {"read": "读取文件", "ocr": "识别扫描页（OCR）", "embed": "计算向量", "write": "写入索引"}
STAGE_UNITS = {"read": "个文件", "ocr": "页", "embed": "条"}
# (stage, done, total), as index.build reports progress.
Progress = Callable[[str, int, int], None]
GENERIC_ERROR = "抱歉，处理时出错了。请换个说法再试；如果一直出错，请联系管理员查看服务日志。"
NOT_ADMIN = "只有管理员可以上传、删除文件或更新索引；请用管理员账号登录。"
REFUSED = "没有执行：" + NOT_ADMIN


def progress_text(stage: str, done: int, total: int, elapsed_s: float) -> str:
    """The progress bar's label: the stage, and the time left once the rate is known.

    The time left is the stage's average rate so far applied to what remains (embedding
    runs at an even pace: the build mixes long chunks and short sentences throughout).
    """
    name = STAGE_NAMES.get(stage, stage)
    if done <= 0 or done >= total or elapsed_s <= 0:
        return name
    return f"{name}，{time_left(elapsed_s / done * (total - done))}"


def time_left(seconds: float) -> str:
    """「约还需 1 分 05 秒」, rounded to what a person can use."""
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"约还需 {seconds} 秒"
    if seconds < 3600:
        return f"约还需 {seconds // 60} 分 {seconds % 60:02d} 秒"
    return f"约还需 {seconds // 3600} 小时 {seconds % 3600 // 60:02d} 分"


def user_message(exc: Exception) -> str:
    """A plain Chinese message for an error, never a traceback."""
    if isinstance(exc, IndexMissingError):
        return "还没有建立索引：请到“知识库”页点击“检查并更新索引”，或在终端运行 policyqa index。"
    if isinstance(exc, IndexLockedError):
        return "索引正在更新，请稍等片刻再试。"
    if isinstance(exc, IndexMismatchError):
        return "索引与当前配置的模型不一致，请运行 policyqa index --force 重新建立索引。"
    if isinstance(exc, PolicyQAError):
        return chinese_part(str(exc))
    return GENERIC_ERROR


def chinese_part(message: str) -> str:
    """The Chinese half of a bilingual core message (「请输入问题。 Please type a question.」)."""
    return re.split(r"(?<=[。！？])\s+(?=[A-Za-z])", message, maxsplit=1)[0]


def typed_text(message: str) -> str:
    """A person's chat message made to show as the text they typed: no "<" starts a tag.

    Idempotent (the chat sends shown messages back as history); ``user_questions`` undoes it.
    """
    return message.replace("<", "&lt;")


def user_questions(history: Sequence[object] | None) -> list[str]:
    """The user's earlier questions from a Gradio chat history.

    Gradio 6 sends message content as a list of parts ({"type": "text", "text": ...});
    older shapes send a string. The pipeline gets plain question strings.
    """
    questions = []
    for message in history or ():
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        parts = content if isinstance(content, list) else [content]
        text = (
            "".join(p if isinstance(p, str) else str(p.get("text", "")) if isinstance(p, dict) else "" for p in parts)
            .replace("&lt;", "<")
            .strip()
        )
        if text:
            questions.append(text)
    return questions


def respond(
    pipeline: QAPipeline,
    message: str,
    history: Sequence[object] | None,
    slots: AnswerSlots | None = None,
    memory: AnswerMemory | None = None,
) -> Iterator[str]:
    """The chat's reply to one message, as HTML that grows sentence by sentence.

    With ``slots``, the answer is composed in one of the server's answer slots; when
    none comes free in time the reply is the busy message (``ServerBusyError``). With
    ``memory``, the finished answer is remembered for a later 👍 / 👎.
    """
    turn = secrets.token_hex(4)
    yield render.pending_html()
    shown = ""
    try:
        with slots.slot() if slots is not None else nullcontext():
            for item in answer_stream(pipeline, message, user_questions(history)):
                if isinstance(item, str):
                    shown += item
                    yield render.partial_html(shown)
                    if ends_sentence(shown):
                        time.sleep(STREAM_PAUSE_S)
                else:
                    if memory is not None:
                        memory.remember(turn, item)
                    yield render.answer_html(item, turn)
    except PolicyQAError as exc:
        yield render.error_html(user_message(exc))
    except Exception:  # the person sees a message; the log keeps the traceback
        log.exception("answering %r failed", message)
        yield render.error_html(GENERIC_ERROR)


@dataclass(frozen=True)
class SourceRequest:
    """A click on a citation: which document, which characters."""

    doc_id: str
    start: int
    end: int


def parse_source_request(data: object) -> SourceRequest:
    """Read the click event's data sent by the page.

    Raises:
        DocumentError: the data is not a document id with two character offsets.
    """
    if not isinstance(data, dict):
        raise DocumentError("无法打开原文：链接不完整。")
    doc_id = data.get("doc_id")
    try:
        start, end = int(data["start"]), int(data["end"])
    except (KeyError, TypeError, ValueError):
        raise DocumentError("无法打开原文：链接中的位置无效。") from None
    if not isinstance(doc_id, str) or not doc_id or start < 0 or end < start:
        raise DocumentError("无法打开原文：链接中的文档或位置无效。")
    return SourceRequest(doc_id, start, end)


def open_source(library: Library, data: object) -> str:
    """The source viewer's HTML for a clicked citation (a scanned page's image beside its text)."""
    try:
        request = parse_source_request(data)
        document = library.document(request.doc_id)
        picture = scan_picture(library, document, request.start)
        return render.source_html(document, request.start, request.end, picture)
    except PolicyQAError as exc:
        return render.viewer_error_html(user_message(exc))


def scan_picture(library: Library, document: Document, offset: int) -> bytes | None:
    """The image of the page holding ``offset`` when OCR read that page, else None.

    A page that cannot be rendered (the file changed or is gone) still shows its text.
    """
    page = document.page_at(offset)
    if page is None or not document.is_ocr(page):
        return None
    try:
        return library.page_picture(document.doc_id, page)
    except PolicyQAError as exc:
        log.warning("no picture of page %s of %s: %s", page, document.doc_id, exc)
        return None


def library_header(library: Library) -> str:
    """One line about the knowledge base, for the page header."""
    try:
        summary = library.summary()
    except PolicyQAError:
        return "还没有索引"
    return f"已收录 {summary.documents} 份文件（{summary.chunks} 个段落）"


def library_coverage(library: Library) -> str:
    """The page's line on what the knowledge base covers (``render.coverage_line``), plain text."""
    try:
        return render.coverage_line(library.documents())
    except PolicyQAError:
        return "知识库还没有索引。"


# A conversation reopened from the browser's storage holds at most this many messages.
MAX_SAVED_MESSAGES = 200


def saved_messages(data: object) -> list[dict[str, str]]:
    """The chat messages of a conversation the page kept in the browser's storage.

    Only {"role": "user"|"assistant", "content": str} messages are taken; anything else
    is dropped. The chat shows questions as typed text and sanitizes answers as always.
    """
    messages = data.get("messages") if isinstance(data, dict) else None
    kept = []
    for message in messages if isinstance(messages, list) else ():
        if (
            isinstance(message, dict)
            and message.get("role") in ("user", "assistant")
            and isinstance(message.get("content"), str)
        ):
            kept.append({"role": message["role"], "content": message["content"]})
    return kept[-MAX_SAVED_MESSAGES:]


def change_document(library: Library, data: object, progress: Progress) -> str:
    """删除 a document, or save its title and date, as a row of the list asked; returns a status message."""
    if not isinstance(data, dict) or not isinstance(data.get("doc"), str):
        return "没有执行：请求不完整。"
    doc_id = data["doc"]
    if data.get("do") == "delete":
        return delete_document(library, doc_id, progress)
    if data.get("do") == "save":
        try:
            title, date = library.set_metadata(doc_id, str(data.get("title", "")), str(data.get("date", "")))
        except DocumentError as exc:
            return "没有保存：" + str(exc)
        shown = date or "按文件内容"
        return f"已保存“{doc_id}”的标题“{title}”、日期 {shown}。\n\n" + _rebuild(library, progress)
    return "没有执行：未知的操作。"


def preview_document(library: Library, data: object) -> str:
    """The preview panel's HTML for a document of the list (``start``: show the page holding it)."""
    fields = data if isinstance(data, dict) else {}
    doc_id = fields.get("doc")
    if not isinstance(doc_id, str):
        return render.viewer_error_html("无法预览：没有指明文件。")
    try:
        start = max(0, int(fields.get("start") or 0))
    except (TypeError, ValueError):
        start = 0
    try:
        document = library.document(doc_id)
        return render.document_preview_html(document, scan_picture(library, document, start), start)
    except PolicyQAError as exc:
        return render.viewer_error_html(user_message(exc))


def upload_files(library: Library, paths: Sequence[str | Path], progress: Progress) -> str:
    """Add uploaded files to the corpus and update the index; returns a status message (Markdown)."""
    added, problems = [], []
    for name in paths:
        path = Path(name)
        try:
            added.append(library.add_file(path.name, path.read_bytes()))
        except DocumentError as exc:
            problems.append(str(exc))
        except OSError as exc:
            problems.append(f"无法读取上传的文件“{path.name}”：{exc.strerror}")
    lines = []
    if added:
        lines.append(f"已添加 {len(added)} 个文件：{'、'.join(added)}。")
        lines.append(_rebuild(library, progress))
    lines.extend(f"未添加：{problem}" for problem in problems)
    return "\n\n".join(lines) or "没有选择文件。"


def delete_document(library: Library, doc_id: str | None, progress: Progress) -> str:
    """Delete a document and update the index; returns a status message."""
    if not doc_id:
        return "没有删除任何文件。"
    try:
        library.delete(doc_id)
    except DocumentError as exc:
        return str(exc)
    return f"已删除 {doc_id}。\n\n" + _rebuild(library, progress)


def reindex(library: Library, progress: Progress) -> str:
    """Bring the index up to date with the corpus folder; returns a status message."""
    return _rebuild(library, progress)


def _rebuild(library: Library, progress: Progress) -> str:
    try:
        report = library.rebuild(progress)
    except PolicyQAError as exc:
        return "索引没有更新：" + user_message(exc)
    return build_summary(report)


def build_summary(report: BuildReport) -> str:
    """A build report in one or two sentences."""
    if report.up_to_date:
        text = f"索引已是最新：{report.documents} 份文件，{report.chunks} 个段落。"
    else:
        text = (
            f"索引已更新（{report.seconds:.1f} 秒）：{report.documents} 份文件，{report.chunks} 个段落；"
            f"新增 {len(report.added)}、修改 {len(report.changed)}、删除 {len(report.removed)}。"
            "问答已使用新索引。"
        )
    for skipped in report.skipped:
        text += f"\n\n跳过的文件：{skipped.reason}"
    return text
