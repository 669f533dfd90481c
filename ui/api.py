"""The REST API and the pages around the Gradio app, on one FastAPI app.

``POST /api/ask`` returns exactly the object of ``policyqa ask --json``;
``GET /api/health`` says whether the index is loaded. Swagger UI at ``/docs``
is served from a local copy (FastAPI's default loads it from a CDN). Which
other sites may call the API (CORS) or frame the app (``frame-ancestors``)
comes from ``settings.allowed_origins``; by default only this origin may.

The OpenAI-compatible API (``/v1/*``, ``ui.openai_api``) and Dify's external knowledge
API (``/api/dify/retrieval``, ``ui.dify_api``) live on the same app.

``RequestGuard`` applies ``ui.security.Guards`` to every request before it is
routed: request bodies over ``max_request_kb`` get 413 unread, ``/api/*`` and ``/v1/*``
need credentials when a users file or token is set (401), the answering routes are
rate limited per client (429) and answer only in a free answer slot (503 when busy).
Every error has the shape its caller expects (``error_response``): OpenAI's under
``/v1/``, Dify's under ``/api/dify/``, ``{"error": …}`` elsewhere.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.errors import ConfigError, IndexMissingError, PolicyQAError, QuestionError, StoreUnavailableError
from index.library import Library
from index.settings import Settings
from qa.answer_json import AskResponse, answer_to_json
from qa.pipeline import QAPipeline
from ui.dify_api import AUTH_FAILED, AUTH_FAILED_MESSAGE, BAD_HEADER, BAD_HEADER_MESSAGE, add_dify_routes, dify_error
from ui.handlers import GENERIC_ERROR, chinese_part
from ui.openai_api import add_openai_routes, openai_error
from ui.security import RATE_LIMITED_MESSAGE, Guards, ServerBusyError
from ui.version import app_version

log = logging.getLogger(__name__)


def gradio_package_dir() -> str:
    """Gradio's install folder, found without importing it (importing it is slow)."""
    import importlib.util

    spec = importlib.util.find_spec("gradio")
    return str(Path(spec.origin).parent) if spec and spec.origin else ""


EMBED_PAGE = Path(__file__).parent / "embed.html"
GRADIO_JS = Path(gradio_package_dir()) / "templates" / "frontend" / "gradio.js"
# An origin as CSP and CORS understand it: scheme://host[:port], nothing after.
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")
# Gradio's upload route takes files up to its own max_file_size (see ui.app.mount).
UPLOAD_PATH = "/gradio_api/upload"
LOGIN_PATHS = ("/login", "/login/")
# Routes that compute an answer: rate limited per client.
ANSWERING_PATHS = ("/api/ask", "/v1/chat/completions", "/api/dify/retrieval")
# Routes that need credentials when access control is on.
GUARDED_PREFIXES = ("/api/", "/v1/")
DIFY_PREFIX = "/api/dify/"
OPENAI_PREFIX = "/v1/"
OPENAPI_URL = "/openapi.json"  # the schema /docs shows
UNAUTHORIZED_MESSAGE = (
    "需要身份验证：请在 Authorization 头中提供 Bearer 令牌，或管理员分配的用户名和密码（HTTP Basic）。 "
    "Authentication required: send Authorization: Bearer <token> or HTTP Basic credentials."
)
UNPARSABLE_MESSAGE = (
    "请求体无法解析：必须是 UTF-8 编码的 JSON，且嵌套不能过深。 "
    "The body could not be parsed: send UTF-8 JSON without deep nesting."
)
TOO_LARGE_MESSAGE = "请求体太大（上限 {kb} KB）。 The request body is larger than the limit of {kb} KB."


API_DESCRIPTION = (
    "离线运行的政策文件问答：每个回答都标注引用来源 [n]（文件标题、日期、原文位置）。"
    "接口：`POST /api/ask`（本服务的 JSON）、`/v1/chat/completions` 与 `/v1/models`（OpenAI 兼容，"
    "可接入 Open WebUI、LobeChat、Chatbox 等）、`POST /api/dify/retrieval`（Dify 外部知识库）。"
    "开启访问控制时需提供 `Authorization: Bearer <令牌>` 或 HTTP Basic 用户名和密码。"
)


class AskRequest(BaseModel):
    """一个问题，可附上之前的对话以便追问。"""

    question: Annotated[str, Field(strict=True, description="问题", examples=["扶贫日是哪一天？"])]
    history: list[Any] = Field(
        default_factory=list,
        description='之前的对话，用于追问：问题字符串，或 {"role": "user"|"assistant", "content": str} 消息',
    )
    top_k: Annotated[int | None, Field(strict=True, description="检索的段落数（1–100）")] = None
    id: Any = Field(default=None, description="原样返回在回答的 id 中")


class ErrorResponse(BaseModel):
    error: str


def check_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """The allowed embedding origins, validated.

    Raises:
        ConfigError: an entry is not ``*`` or ``scheme://host[:port]``.
    """
    for origin in origins:
        if origin != "*" and not ORIGIN.match(origin):
            raise ConfigError(
                f"allowed_origins entry {origin!r} is not an origin; write it as https://host or https://host:port"
            )
    return tuple(o.rstrip("/") for o in origins)


def frame_ancestors(origins: tuple[str, ...]) -> str:
    """The Content-Security-Policy value that lets only these origins (and this one) frame the app."""
    return "frame-ancestors " + " ".join(["'self'", *origins])


def create_api(settings: Settings, pipeline: QAPipeline, library: Library, guards: Guards | None = None) -> FastAPI:
    """The FastAPI app with the REST API, the docs and the embed page (Gradio is mounted later).

    Args:
        settings: origins and, when ``guards`` is None, the access and load limits.
        pipeline: answers questions.
        library: for the health summary.
        guards: the server's access and load policy, shared with the web app.
    """
    origins = check_origins(settings.allowed_origins)
    guards = guards or Guards.from_settings(settings)
    api = FastAPI(
        title="政策文件问答 API",
        description=API_DESCRIPTION,
        version=app_version(),
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
    )
    api.add_middleware(RequestGuard, guards=guards)  # inside CORS: refusals carry CORS headers
    _add_security(api, origins)
    _add_page_language(api)
    _add_errors(api)

    @api.post(
        "/api/ask",
        response_model=None,
        responses={
            200: {"model": AskResponse},
            **{status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 429, 503)},
        },
        summary="回答一个问题，附引用来源（与 policyqa ask --json 相同的对象）",
        tags=["问答"],
    )
    def ask(request: AskRequest) -> JSONResponse:
        # A plain def runs in a worker thread; the slot bounds how many compute at once.
        with guards.slots.slot():
            answer = pipeline.ask(request.question, history=request.history, top_k=request.top_k)
        return JSONResponse(answer_to_json(answer, request.id))

    @api.get("/api/health", summary="服务状态：索引是否已加载、收录了多少文件", tags=["问答"])
    def health() -> dict:
        summary = library.summary()
        return {
            "status": "ok",
            "version": app_version(),
            "documents": summary.documents,
            "chunks": summary.chunks,
            "model": summary.model_id,
            "index_built_at": summary.built_at,
            "answering": guards.slots.running,
            "waiting": guards.slots.waiting,
        }

    @api.get("/embed", response_class=HTMLResponse, include_in_schema=False)
    def embed(request: Request) -> HTMLResponse:
        base = str(request.base_url).rstrip("/")
        page = EMBED_PAGE.read_text(encoding="utf-8").replace("{{APP_URL}}", html.escape(base, quote=True))
        return HTMLResponse(page)

    @api.get("/gradio.js", include_in_schema=False)
    def gradio_web_component() -> FileResponse:
        # Gradio ships the <gradio-app> loader but does not serve it; its imports
        # resolve against /assets/, which the mounted Gradio app serves.
        return FileResponse(GRADIO_JS, media_type="text/javascript")

    add_openai_routes(api, pipeline, guards)
    add_dify_routes(api, pipeline, guards)
    _add_docs(api)
    return api


# The app's page as Gradio writes it says lang="en" and describes Gradio (og:url gradio.app,
# "Click to try out the app!"); the page is rewritten to name this app, in Chinese.
PAGE_DESCRIPTION = "离线运行的政策文件问答：每个回答都标注引用来源（文件标题、日期和原文位置）。"
PAGE_REWRITES = (
    (re.compile(r'<html\s+lang="en"'), '<html lang="zh-CN"'),
    (re.compile(r'<meta property="og:url" content="[^"]*" />'), ""),
    (re.compile(r'<meta\s+property="og:image"\s+content="https?://[^"]*"\s*/>'), ""),
    (re.compile(r'<meta\s+name="twitter:image"\s+content="https?://[^"]*"\s*/>'), ""),
    (re.compile(r'<meta name="twitter:creator" content="[^"]*" />'), ""),
    (re.compile(r'content="Gradio"'), 'content="政策文件问答"'),
    (re.compile(r'content="Click to try out the app!"'), f'content="{PAGE_DESCRIPTION}"'),
    (re.compile(r"<head>"), f'<head><meta name="description" content="{PAGE_DESCRIPTION}">'),
)


def rewrite_page(page: str) -> str:
    """The app's HTML page in Chinese and about this app (``PAGE_REWRITES``)."""
    for pattern, replacement in PAGE_REWRITES:
        page = pattern.sub(replacement, page, count=1 if replacement.startswith("<") else 0)
    return page


def _add_page_language(api: FastAPI) -> None:
    @api.middleware("http")
    async def chinese_page(request: Request, call_next):
        response = await call_next(request)
        if request.method != "GET" or request.url.path != "/":
            return response
        if not response.headers.get("content-type", "").startswith("text/html"):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        page = rewrite_page(body.decode("utf-8")).encode("utf-8")
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(page, status_code=response.status_code, headers=headers, media_type="text/html")


def _add_security(api: FastAPI, origins: tuple[str, ...]) -> None:
    # With its own CORSMiddleware on the parent app, Gradio adds no CORS headers of its own.
    api.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST"],
        allow_headers=["*"],
    )
    policy = frame_ancestors(origins)

    @api.middleware("http")
    async def framing_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = policy
        if not origins:
            response.headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without CSP level 2
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _add_errors(api: FastAPI) -> None:
    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in exc.errors())
        return error_response(request.url.path, 422, f"请求格式不对：{problems}")

    @api.exception_handler(QuestionError)
    async def bad_question(request: Request, exc: QuestionError) -> JSONResponse:
        return error_response(request.url.path, 400, str(exc))

    @api.exception_handler(ServerBusyError)
    async def busy(request: Request, exc: ServerBusyError) -> JSONResponse:
        return error_response(request.url.path, 503, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @api.exception_handler(IndexMissingError)
    async def no_index(request: Request, exc: IndexMissingError) -> JSONResponse:
        return error_response(request.url.path, 503, chinese_part(str(exc)))

    @api.exception_handler(StoreUnavailableError)
    async def store_down(request: Request, exc: StoreUnavailableError) -> JSONResponse:
        return error_response(request.url.path, 503, chinese_part(str(exc)))

    @api.exception_handler(PolicyQAError)
    async def product_error(request: Request, exc: PolicyQAError) -> JSONResponse:
        return error_response(request.url.path, 500, chinese_part(str(exc)))

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's words for a body that is not UTF-8 or nests too deeply to parse.
        message = UNPARSABLE_MESSAGE if exc.detail == "There was an error parsing the body" else str(exc.detail)
        return error_response(request.url.path, exc.status_code, message, exc.headers)

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed", request.url.path)
        return error_response(request.url.path, 500, GENERIC_ERROR)


def error_response(path: str, status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error in the shape the caller of ``path`` expects: OpenAI's, Dify's, or {"error": message}."""
    if path.startswith(OPENAI_PREFIX):
        return openai_error(status, message, headers)
    if path.startswith(DIFY_PREFIX):
        return dify_error(status, status, message, headers)
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, TOO_LARGE_MESSAGE.format(kb=limit // 1024))


class RequestGuard:
    """ASGI middleware applying a server's ``Guards`` before any route sees a request."""

    def __init__(self, app: ASGIApp, guards: Guards) -> None:
        self.app = app
        self.guards = guards

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        client = (scope.get("client") or ("unknown", 0))[0]
        limit = self.guards.max_request_bytes
        refusal = None
        if not path.startswith(UPLOAD_PATH) and _content_length(headers) > limit:
            refusal = error_response(path, 413, TOO_LARGE_MESSAGE.format(kb=limit // 1024))  # refused unread
        elif method == "POST" and path in LOGIN_PATHS:
            refusal = _rate_limited(path, self.guards.login_limiter.retry_after(client))
        elif path.startswith(GUARDED_PREFIXES):
            if method == "POST" and path in ANSWERING_PATHS and self.guards.ask_limiter is not None:
                refusal = _rate_limited(path, self.guards.ask_limiter.retry_after(client))
            if refusal is None:
                refusal = self._refused_access(path, headers.get("authorization"))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if path.startswith(UPLOAD_PATH):
            await self.app(scope, receive, send)
            return
        await self._with_body_limit(scope, receive, send, limit)

    def _refused_access(self, path: str, authorization: str | None) -> JSONResponse | None:
        """The refusal for a caller without valid credentials, or None.

        Dify always sends a bearer key: its route wants one even without access control (1001)
        and, with it, the API token (1002). Elsewhere credentials count only with access control.
        """
        if path.startswith(DIFY_PREFIX):
            scheme, _, key = (authorization or "").strip().partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                return dify_error(403, BAD_HEADER, BAD_HEADER_MESSAGE)
            if self.guards.api_locked and not self.guards.api_caller(authorization):
                return dify_error(403, AUTH_FAILED, AUTH_FAILED_MESSAGE)
            return None
        if self.guards.api_locked and not self.guards.api_caller(authorization):
            challenge = {"WWW-Authenticate": 'Bearer, Basic realm="policyqa"'}
            return error_response(path, 401, UNAUTHORIZED_MESSAGE, challenge)
        return None

    async def _with_body_limit(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app, refusing a body without Content-Length once it grows past the limit."""
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge as exc:
            if started:
                raise
            await error_response(scope["path"], 413, str(exc.detail))(scope, receive, send)


def _content_length(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


def _rate_limited(path: str, retry_after_s: int) -> JSONResponse | None:
    if retry_after_s == 0:
        return None
    message = RATE_LIMITED_MESSAGE.format(seconds=retry_after_s)
    return error_response(path, 429, message, {"Retry-After": str(retry_after_s)})


def _problem(error: dict) -> str:
    if error.get("type") == "json_invalid":
        return "请求体不是合法的 JSON"
    field = ".".join(str(p) for p in error.get("loc", ())[1:])
    return f"{field or '请求体'}: {error.get('msg', '')}"


def _add_docs(api: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package, not a CDN."""
    import swagger_ui_bundle

    api.mount("/docs-static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=api.title,
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
