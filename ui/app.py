"""The Gradio app: a chat with citation cards, the source viewer, and the knowledge-base tab.

Layout and wiring only: what each control does lives in ``ui.handlers``, the
HTML in ``ui.render``. Fonts are the system's (a Google font would be fetched
from the web and hang offline).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr
from gradio.components.chatbot import TextMessage

from index.errors import PolicyQAError
from index.library import UPLOAD_TYPES, Library
from qa.pipeline import QAPipeline, answer_to_json
from ui import (
    handlers,
    offline,  # noqa: F401  (must run before gradio is imported)
    render,
)
from ui.security import Guards

STATIC = Path(__file__).parent / "static"
CSS = (STATIC / "app.css").read_text(encoding="utf-8")
TITLE = "政策文件问答"
QUESTION_HINT = "输入问题，按回车发送；也可以接着上一个回答追问"
# The viewer's script restores this hint after each answer (ui/static/viewer.js, keepHint).
VIEWER_JS = f"const QUESTION_HINT = {json.dumps(QUESTION_HINT)};\n" + (STATIC / "viewer.js").read_text(encoding="utf-8")

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
THEME = gr.themes.Soft(
    primary_hue="blue",
    neutral_hue="slate",
    font=[gr.themes.Font(name) for name in SYSTEM_SANS],
    font_mono=[gr.themes.Font(name) for name in SYSTEM_MONO],
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

    chatbot.postprocess = as_typed
    return chatbot


def header_html(library: Library) -> str:
    """The page header: product name and what the knowledge base holds."""
    return (
        f'<div class="pqa-header"><div class="pqa-brand">{TITLE}</div>'
        f'<div class="pqa-sub">{handlers.library_header(library)} · 每个回答都附原文出处</div></div>'
    )


def build_app(
    pipeline: QAPipeline, library: Library, examples: list[str], max_upload_mb: int, guards: Guards
) -> gr.Blocks:
    """The whole web app as a Gradio Blocks (mount it with ``mount``).

    Args:
        pipeline: answers questions.
        library: lists, shows, adds and deletes documents.
        examples: example questions shown in the empty chat.
        max_upload_mb: the upload limit, for the hint text.
        guards: answer slots shared with the API, and who may change the knowledge base.
    """
    slots = guards.slots
    # Every answer slot and queue place may hold a chat event; the slots decide who computes.
    answering_events = slots.workers + slots.queue_size

    def respond(message: str, history: list):
        yield from handlers.respond(pipeline, message, history, slots)

    def ask_json(question: str, history: list | None = None, top_k: int | None = None) -> dict:
        """Answer a question; returns the same object as POST /api/ask and `policyqa ask --json`."""
        try:
            with slots.slot():
                return answer_to_json(pipeline.ask(question, history=history, top_k=top_k))
        except PolicyQAError as exc:
            raise gr.Error(handlers.user_message(exc)) from None

    def open_source(evt: gr.EventData) -> str:
        return handlers.open_source(library, evt._data)

    def kb_views():
        documents = library.documents()
        choices = [(f"{d.title}（{d.doc_id}）", d.doc_id) for d in documents]
        return (
            render.document_rows(documents),
            gr.update(choices=choices, value=None),
            header_html(library),
        )

    def may_change(request: gr.Request | None) -> bool:
        return guards.may_change_library(getattr(request, "username", None))

    def on_upload(files, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        if not may_change(request):
            return (handlers.REFUSED, *kb_views())
        paths = [f if isinstance(f, str) else f.name for f in (files or [])]
        return (handlers.upload_files(library, paths, _progress(progress)), *kb_views())

    def on_delete(doc_id, request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        if not may_change(request):
            return (handlers.REFUSED, *kb_views())
        return (handlers.delete_document(library, doc_id, _progress(progress)), *kb_views())

    def on_reindex(request: gr.Request, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        if not may_change(request):
            return (handlers.REFUSED, *kb_views())
        return (handlers.reindex(library, _progress(progress)), *kb_views())

    def permissions(request: gr.Request):
        """Knowledge-base controls usable only by those who may use them (the handlers check again)."""
        allowed = may_change(request)
        hint = "" if allowed else handlers.NOT_ADMIN
        return (*(gr.update(interactive=allowed) for _ in range(4)), hint)

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        header = gr.HTML(header_html(library), elem_id="pqa-header-block")
        with gr.Tabs():
            with gr.Tab("问答", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=380):
                    gr.ChatInterface(
                        respond,
                        chatbot=typed_text_chatbot(
                            elem_id="pqa-chat",
                            height="64vh",
                            min_height=420,
                            placeholder=WELCOME,
                            buttons=["copy"],
                            latex_delimiters=[],
                            feedback_options=None,
                            show_label=False,
                        ),
                        textbox=gr.Textbox(
                            placeholder=QUESTION_HINT,
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
                    viewer = gr.HTML(render.viewer_placeholder_html(), js_on_load=VIEWER_JS, elem_id="pqa-viewer")
            with gr.Tab("知识库", id="library"):
                gr.HTML(
                    '<div class="pqa-hint">'
                    + KB_HINT.format(types=" / ".join(t.lstrip(".") for t in UPLOAD_TYPES), mb=max_upload_mb)
                    + "</div>"
                )
                with gr.Row():
                    upload = gr.UploadButton(
                        "上传文件",
                        file_count="multiple",
                        file_types=list(UPLOAD_TYPES),
                        variant="primary",
                        elem_id="pqa-upload",
                    )
                    reindex = gr.Button("检查并更新索引", elem_id="pqa-reindex")
                status = gr.Markdown(elem_classes="pqa-status", elem_id="pqa-status")
                table = gr.Dataframe(
                    headers=render.DOCUMENT_HEADERS,
                    interactive=False,
                    wrap=True,
                    max_height=520,
                    column_widths=["38%", "13%", "10%", "10%", "29%"],
                    elem_id="pqa-documents",
                    show_label=False,
                )
                with gr.Row():
                    to_delete = gr.Dropdown(label="删除文档", choices=[], scale=3, elem_id="pqa-delete-choice")
                    delete = gr.Button("删除所选文档", variant="stop", scale=1, elem_id="pqa-delete")
        gr.HTML(FOOTER)

        viewer.click(open_source, None, viewer, api_visibility="private")
        kb_outputs = [status, table, to_delete, header]
        # Uploads, deletions and rebuilds change the one index: they queue behind each other
        # instead of meeting the build lock and leaving a file unindexed.
        one_change_at_a_time = {"concurrency_id": "knowledge-base", "concurrency_limit": 1}
        upload.upload(on_upload, upload, kb_outputs, api_visibility="private", **one_change_at_a_time)
        reindex.click(on_reindex, None, kb_outputs, api_visibility="private", **one_change_at_a_time)
        delete.click(
            on_delete,
            to_delete,
            kb_outputs,
            js="(doc) => (doc && confirm('确定删除“' + doc + '”吗？删除后只能重新上传恢复。')) ? doc : null",
            api_visibility="private",
            **one_change_at_a_time,
        )
        app.load(kb_views, None, [table, to_delete, header], api_visibility="private")
        app.load(permissions, None, [upload, reindex, to_delete, delete, status], api_visibility="private")
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
        elapsed = time.monotonic() - started.setdefault(stage, time.monotonic())
        progress(
            (done, max(total, 1)),
            desc=handlers.progress_text(stage, done, total, elapsed),
            unit=handlers.STAGE_UNITS.get(stage, "条"),
        )

    return report


def mount(api, app: gr.Blocks, max_upload_mb: int, guards: Guards):
    """Mount the Gradio app at "/" of the FastAPI app, offline-safe; returns the FastAPI app.

    With a users file, Gradio's own login page guards the app (``guards.check_login``).
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
    )
