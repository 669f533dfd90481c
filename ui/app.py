"""The Gradio app: a chat with citation cards, the source viewer, and the knowledge-base tab.

Layout and wiring only: what each control does lives in ``ui.handlers``, the
HTML in ``ui.render``. Fonts are the system's (a Google font would be fetched
from the web and hang offline).
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote

import gradio as gr
from gradio.components.chatbot import TextMessage

from index.errors import PolicyQAError
from index.library import UPLOAD_TYPES, Library
from qa.answer_json import answer_to_json
from qa.pipeline import QAPipeline
from ui import (
    handlers,
    offline,  # noqa: F401  (must run before gradio is imported)
    render,
)
from ui.feedback import AnswerMemory, FeedbackStore, record_feedback
from ui.security import Guards

STATIC = Path(__file__).parent / "static"
CSS = (STATIC / "app.css").read_text(encoding="utf-8")
TITLE = "政策文件问答"
QUESTION_HINT = "输入问题，按回车发送；也可以接着上一个回答追问"
# The viewer's script restores this hint after each answer (ui/static/viewer.js, keepHint); the
# page's behaviours (copy, feedback, scrolling, Chinese labels: ui/static/page.js) run with it.
VIEWER_JS = (
    f"const QUESTION_HINT = {json.dumps(QUESTION_HINT)};\n"
    + (STATIC / "viewer.js").read_text(encoding="utf-8")
    + (STATIC / "page.js").read_text(encoding="utf-8")
)
HISTORY_JS = (STATIC / "history.js").read_text(encoding="utf-8")
LIBRARY_JS = (STATIC / "library.js").read_text(encoding="utf-8")
# Gradio's own words that its Chinese translation lacks (it falls back to English).
I18N = gr.I18n(
    **{
        "zh-CN": {
            "chatbot.copy_message": "复制",
            "chatbot.copied_message": "已复制",
            "chatbot.complete": "完成",
            "chatbot.retry": "重新回答",
            "chatbot.clear": "清空对话",
            "chat_interface.new_chat": "新对话",
            "common.progress": "进度",
            "upload_text.click_to_upload": "点击上传",
        }
    }
)

# Fonts every desktop and phone has, Chinese first; no web fonts.
SYSTEM_SANS = [
    "PingFang SC",
    "Hiragino Sans GB",
    "Microsoft YaHei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "Segoe UI",
    "Roboto",
    "Helvetica Neue",
    "Arial",
    "sans-serif",
]
SYSTEM_MONO = ["SFMono-Regular", "Menlo", "Consolas", "Noto Sans Mono CJK SC", "monospace"]
# Text colours chosen for WCAG 2.1 AA contrast (≥ 4.5:1) on both themes; Soft's subdued text
# (slate-400 on slate-50, 2.45:1) and placeholder failed axe-core's color-contrast rule.
THEME = gr.themes.Soft(
    primary_hue="blue",
    neutral_hue="slate",
    font=[gr.themes.Font(name) for name in SYSTEM_SANS],
    font_mono=[gr.themes.Font(name) for name in SYSTEM_MONO],
).set(
    body_text_color_subdued="*neutral_600",
    body_text_color_subdued_dark="*neutral_300",
    input_placeholder_color="*neutral_500",
    input_placeholder_color_dark="*neutral_400",
    block_info_text_color="*neutral_600",
    block_info_text_color_dark="*neutral_300",
    link_text_color="*primary_700",
    link_text_color_dark="*primary_300",
    link_text_color_visited="*primary_800",
    link_text_color_visited_dark="*primary_300",
    button_primary_background_fill="*primary_700",
    button_primary_background_fill_hover="*primary_800",
    button_primary_background_fill_dark="*primary_600",
    button_primary_text_color="white",
    button_primary_text_color_dark="white",
)

WELCOME = (
    "<div style='text-align:center;line-height:1.9'><b style='font-size:17px'>有什么想了解的？</b><br>"
    "我会在已收录的政策文件中查找答案，每个回答都标明出处。<br>"
    "点击回答下方的引用卡片，可在右侧查看整篇原文。</div>"
)
KB_HINT = (
    "可上传 {types} 文件（每个不超过 {mb} MB；PDF 和 Word 只读取文字层，扫描件无法识别）。"
    "上传或删除后索引会自动增量更新，问答立即使用新内容，无需重启。"
)
LOGIN_MESSAGE = "请输入管理员分配的用户名和密码。"
# Events other than answering (uploads, rebuilds, source clicks) run this many at a time:
# one per core of the 2-core target.
OTHER_EVENTS_AT_ONCE = 2
# Gradio's queue holds at most this many waiting events per answer slot and queue place;
# a full queue is Gradio's own (English) busy toast, the last resort after our busy message.
GRADIO_QUEUE_FACTOR = 4
FOOTER = (
    '<div class="pqa-footer">离线运行 · 回答摘自原文并标注出处 · '
    '<a href="/docs" target="_blank">REST API 文档</a> · <a href="/embed" target="_blank">嵌入到其他网页</a></div>'
)


class _Queue(TypedDict):
    """The keyword arguments of a Gradio event that give it a queue of its own."""

    concurrency_id: str
    concurrency_limit: int


# Every change to the index (uploads, deletions, rebuilds), one at a time.
ONE_CHANGE_AT_A_TIME = _Queue(concurrency_id="knowledge-base", concurrency_limit=1)


def typed_text_chatbot(**options) -> gr.Chatbot:
    """A gr.Chatbot showing a person's own messages as the text they typed, never as HTML.

    Gradio renders user messages as (sanitized) HTML, so a question with ``<img src=…>``
    would load that image; the answers stay HTML made by ``ui.render``. (The instance's
    postprocess is wrapped: a subclass would make Gradio write a .pyi file into ui/.)
    """
    chatbot = gr.Chatbot(**options)
    postprocess = chatbot.postprocess

    def as_typed(value):
        data = postprocess(value)
        for message in data.root:
            if message.role == "user":
                for part in message.content:
                    if isinstance(part, TextMessage):
                        part.text = handlers.typed_text(part.text)
        return data

    # mypy holds methods read-only; this instance's one is replaced on purpose (see the docstring).
    chatbot.postprocess = as_typed  # type: ignore[method-assign]
    return chatbot


def header_html(library: Library) -> str:
    """The page header: product name, what the knowledge base holds, and one line on what it covers."""
    return (
        f'<header class="pqa-header"><h1 class="pqa-brand">{TITLE}</h1>'
        f'<div class="pqa-sub">{handlers.library_header(library)} · 每个回答都附原文出处</div>'
        f'<p class="pqa-coverage">{html.escape(handlers.library_coverage(library))}</p></header>'
    )


def build_app(
    pipeline: QAPipeline,
    library: Library,
    examples: list[str],
    max_upload_mb: int,
    guards: Guards,
    feedback: FeedbackStore | None = None,
) -> gr.Blocks:
    """The whole web app as a Gradio Blocks (mount it with ``mount``).

    Args:
        pipeline: answers questions.
        library: lists, shows, adds and deletes documents, sets titles and dates.
        examples: example questions shown in the empty chat.
        max_upload_mb: the upload limit, for the hint text.
        guards: answer slots shared with the API, and who may change the knowledge base.
        feedback: where 👍 / 👎 ratings are stored (default: beside the index).
    """
    slots = guards.slots
    store = feedback or FeedbackStore(library.settings.index_dir)
    memory = AnswerMemory()
    # Every answer slot and queue place may hold a chat event; the slots decide who computes.
    answering_events = slots.workers + slots.queue_size

    def respond(message: str, history: list):
        yield from handlers.respond(pipeline, message, history, slots, memory)

    def ask_json(question: str, history: list | None = None, top_k: int | None = None) -> dict:
        """Answer a question; returns the same object as POST /api/ask and `policyqa ask --json`."""
        try:
            with slots.slot():
                return answer_to_json(pipeline.ask(question, history=history, top_k=top_k))
        except PolicyQAError as exc:
            raise gr.Error(handlers.user_message(exc)) from None

    def open_source(evt: gr.EventData) -> str:
        return handlers.open_source(library, evt._data)

    def save_feedback(data: dict, request: gr.Request) -> dict:
        """Store a 👍 / 👎 (or the reason added to one) sent by the page (ui/static/page.js)."""
        return record_feedback(store, memory, data, getattr(request, "username", None) or "")

    def reopen(evt: gr.EventData):
        """A conversation kept in the browser, back in the chat (ui/static/history.js)."""
        messages = handlers.saved_messages(evt._data)
        return messages, messages

    def may_change(request: gr.Request | None) -> bool:
        return guards.may_change_library(getattr(request, "username", None))

    def file_url(doc_id: str) -> str:
        # Served by Gradio's file route (behind its login) from the corpus folder, an allowed path.
        return "gradio_api/file=" + quote(str(library.file_path(doc_id).resolve()))

    def kb_views(request: gr.Request):
        documents = library.documents()
        allowed = may_change(request)
        ratings = render.feedback_html(store.recent(), store.counts()) if allowed else ""
        return render.document_list_html(documents, allowed, file_url), header_html(library), ratings

    def on_upload(files, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        if not may_change(request):
            return (handlers.REFUSED, *kb_views(request))
        paths = [f if isinstance(f, str) else f.name for f in (files or [])]
        return (handlers.upload_files(library, paths, _progress(progress)), *kb_views(request))

    def on_change(evt: gr.EventData, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        """删除 or a saved title and date, from a row of the list (ui/static/library.js)."""
        if not may_change(request):
            return (handlers.REFUSED, *kb_views(request))
        return (handlers.change_document(library, evt._data, _progress(progress)), *kb_views(request))

    def on_preview(evt: gr.EventData) -> str:
        return handlers.preview_document(library, evt._data)

    def on_reindex(request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        if not may_change(request):
            return (handlers.REFUSED, *kb_views(request))
        return (handlers.reindex(library, _progress(progress)), *kb_views(request))

    def permissions(request: gr.Request):
        """Knowledge-base controls usable only by those who may use them (the handlers check again)."""
        allowed = may_change(request)
        hint = "" if allowed else handlers.NOT_ADMIN
        return (*(gr.update(interactive=allowed) for _ in range(2)), hint)

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        header = gr.HTML(header_html(library), elem_id="pqa-header-block")
        with gr.Tabs():
            with gr.Tab("问答", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=380):
                    history = gr.HTML(
                        '<div class="pqa-history" aria-label="对话记录"></div>',
                        js_on_load=HISTORY_JS,
                        elem_id="pqa-history",
                    )
                    chat = gr.ChatInterface(
                        respond,
                        chatbot=typed_text_chatbot(
                            elem_id="pqa-chat",
                            label="对话",
                            height="64vh",
                            min_height=420,
                            placeholder=WELCOME,
                            buttons=[],
                            latex_delimiters=[],
                            feedback_options=None,
                            show_label=False,
                            autoscroll=False,  # the page scrolls a new answer to its start (page.js)
                        ),
                        textbox=gr.Textbox(
                            placeholder=QUESTION_HINT,
                            label="问题",
                            show_label=False,
                            lines=1,
                            max_lines=4,
                            elem_id="pqa-question",
                            submit_btn="发送",
                            stop_btn="停止",
                        ),
                        examples=examples or None,
                        cache_examples=False,
                        fill_height=False,
                        show_progress="hidden",  # the pending message says it is working
                        api_name="chat",
                        analytics_enabled=False,
                        concurrency_limit=answering_events,
                    )
                with gr.Column(scale=2, min_width=300):
                    viewer = gr.HTML(
                        render.viewer_placeholder_html(),
                        js_on_load=VIEWER_JS,
                        elem_id="pqa-viewer",
                        server_functions=[save_feedback],
                    )
            with gr.Tab("知识库", id="library") as library_tab:
                gr.HTML(
                    '<div class="pqa-hint">'
                    + KB_HINT.format(types=" / ".join(t.lstrip(".") for t in UPLOAD_TYPES), mb=max_upload_mb)
                    + "</div>"
                )
                with gr.Row(elem_id="pqa-kb-controls"):
                    upload = gr.UploadButton(
                        "上传文件（也可把文件拖到下方列表）",
                        file_count="multiple",
                        file_types=list(UPLOAD_TYPES),
                        variant="primary",
                        elem_id="pqa-upload",
                    )
                    reindex = gr.Button("检查并更新索引", elem_id="pqa-reindex")
                status = gr.Markdown(elem_classes="pqa-status", elem_id="pqa-status")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        documents = gr.HTML(js_on_load=LIBRARY_JS, elem_id="pqa-documents")
                    with gr.Column(scale=2, min_width=300):
                        preview = gr.HTML(
                            '<div class="pqa-viewer pqa-viewer-empty"><h2 class="pqa-viewer-title">预览</h2>'
                            "<p>点击列表中的“预览”，这里显示文件清洗后的全文。</p></div>",
                            elem_id="pqa-preview",
                        )
                ratings = gr.HTML(elem_id="pqa-feedback")
        gr.HTML(FOOTER)

        viewer.click(open_source, None, viewer, api_visibility="private")
        history.submit(reopen, None, [chat.chatbot, chat.chatbot_state], api_visibility="private", queue=False)
        # Each change of the chat is written to the browser's storage by the page (history.js).
        chat.chatbot.change(
            None, chat.chatbot, None, js="(value) => { window.__pqaSaveChat && window.__pqaSaveChat(value); }"
        )
        kb_outputs = [status, documents, header, ratings]
        # Uploads, deletions and rebuilds change the one index: they queue behind each other
        # instead of meeting the build lock and leaving a file unindexed.
        upload.upload(on_upload, upload, kb_outputs, api_visibility="private", **ONE_CHANGE_AT_A_TIME)
        reindex.click(on_reindex, None, kb_outputs, api_visibility="private", **ONE_CHANGE_AT_A_TIME)
        documents.submit(on_change, None, kb_outputs, api_visibility="private", **ONE_CHANGE_AT_A_TIME)
        documents.click(on_preview, None, preview, api_visibility="private")
        app.load(kb_views, None, [documents, header, ratings], api_visibility="private")
        # Opening the tab shows the latest list and ratings (feedback arrives while it is closed).
        library_tab.select(kb_views, None, [documents, header, ratings], api_visibility="private", queue=False)
        app.load(permissions, None, [upload, reindex, status], api_visibility="private")
        gr.api(ask_json, api_name="ask", concurrency_limit=answering_events)
    app.queue(
        default_concurrency_limit=OTHER_EVENTS_AT_ONCE,
        max_size=GRADIO_QUEUE_FACTOR * answering_events,
    )
    return app


def _progress(progress: gr.Progress) -> handlers.Progress:
    """index.build's (stage, done, total) callback drawn on a Gradio progress bar, with the time left."""
    started: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        if done == 0:  # a stage may start over (OCR counts the pages of each file anew)
            started[stage] = time.monotonic()
        elapsed = time.monotonic() - started.setdefault(stage, time.monotonic())
        progress(
            (done, max(total, 1)),
            desc=handlers.progress_text(stage, done, total, elapsed),
            unit=handlers.STAGE_UNITS.get(stage, "条"),
        )

    return report


def mount(api, app: gr.Blocks, max_upload_mb: int, guards: Guards, corpus_dir: Path | None = None):
    """Mount the Gradio app at "/" of the FastAPI app, offline-safe; returns the FastAPI app.

    With a users file, Gradio's own login page guards the app (``guards.check_login``); the
    corpus folder's files are downloadable through Gradio's file route, behind the same login.
    """
    return gr.mount_gradio_app(
        api,
        app,
        path="/",
        auth=guards.check_login if guards.users is not None else None,
        auth_message=LOGIN_MESSAGE,
        theme=THEME,
        css=CSS,
        footer_links=[],
        run_history=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        show_error=False,
        # Our own check (index.library) gives the plain message; Gradio's limit, set
        # above it, only stops absurd uploads before they are written to disk.
        max_file_size=f"{2 * max_upload_mb + 1}mb",
        allowed_paths=[str(Path(corpus_dir).resolve())] if corpus_dir is not None else None,
        i18n=I18N,
    )
