"""``policyqa serve``: bring an existing index up to date, load the model once, serve app and API.

    settings → Guards (users, limits) → index exists? → build_index (no-op when up to date) → QAPipeline
             → FastAPI (/api, /docs, /embed) → Gradio app mounted at "/" → uvicorn on host:port
             → with --watch: index.watch.FolderWatch rebuilds when the corpus folder changes

A non-loopback host without a users file is refused unless explicitly allowed
(``ui.security.check_exposure``). A missing index is an error that says how to build one
(``make run`` builds it first), so a mistyped ``--index`` never starts indexing into a stray folder.
"""

from __future__ import annotations

import logging
import socket
import sys
import time

from index.errors import ConfigError, IndexMissingError
from index.settings import Settings

log = logging.getLogger(__name__)


def create_server_app(settings: Settings):
    """The complete ASGI app (index checked and loaded, model loaded once)."""
    from index.build import build_index
    from index.embed import SentenceTransformerEmbedder
    from index.library import Library
    from index.stores import index_location, live_manifest
    from qa.pipeline import QAPipeline
    from ui import offline  # noqa: F401  (before gradio and transformers are imported)
    from ui.api import check_origins, create_api
    from ui.app import build_app, mount
    from ui.examples import pick_examples
    from ui.security import Guards, check_exposure

    # Fail before minutes of loading, not after.
    check_origins(settings.allowed_origins)
    check_exposure(settings)
    guards = Guards.from_settings(settings)
    if guards.users is not None:
        _say(f"login required: {len(guards.users)} users in {settings.auth}")
    if not settings.corpus_dir.is_dir():
        raise ConfigError(f"corpus folder {settings.corpus_dir} does not exist; create it or set POLICYQA_CORPUS_DIR")
    if live_manifest(settings) is None:
        raise IndexMissingError(
            f"no index in {index_location(settings)}; build one with `policyqa index` (`make run` does both)"
        )
    _say("loading the embedding model…")
    embedder = SentenceTransformerEmbedder(settings)
    _say(f"checking the index of {settings.corpus_dir}…")
    # A watched folder's files get the upload checks from the start (index.library).
    refused = Library(settings).refused_files() if settings.watch else None
    report = build_index(settings, embedder=embedder, refused=refused)
    for skipped in report.skipped:
        _say(f"skipped: {skipped.reason}")
    if not report.up_to_date:
        _say(f"indexed {report.documents} documents ({report.chunks} chunks) in {report.seconds:.1f} s")
    pipeline = QAPipeline(settings, embedder=embedder)

    def live_index():
        pipeline.reload_if_changed()
        return pipeline.store

    library = Library(settings, index=live_index, embedder=embedder)
    if settings.watch:
        _watch(settings, library)
    started = time.perf_counter()
    documents = [library.document(d.doc_id) for d in library.documents() if d.indexed]
    # Checked by the extractive answer: with an LLM, one model call per candidate would hold up start-up.
    examples = pick_examples(lambda question: pipeline.ask(question, generate=False), documents)
    log.info("picked %d example questions in %.1f s", len(examples), time.perf_counter() - started)
    api = create_api(settings, pipeline, library, guards)
    app = build_app(pipeline, library, examples, settings.max_upload_mb, guards)
    return mount(api, app, settings.max_upload_mb, guards, settings.corpus_dir)


def _watch(settings: Settings, library) -> None:
    """Index what is added to, changed in or removed from the corpus folder while serving."""
    from index.watch import FolderWatch
    from ui.handlers import build_summary

    def on_change() -> None:
        report = library.rebuild()
        if not report.up_to_date or report.skipped:
            _say("corpus folder changed: " + build_summary(report).replace("\n\n", " "))

    FolderWatch(settings.corpus_dir, on_change, settings.watch_interval_s, settings.watch_debounce_s).start()
    _say(
        f"watching {settings.corpus_dir} for added, changed and removed files "
        f"(every {settings.watch_interval_s:g} s, indexed after {settings.watch_debounce_s:g} s without changes)"
    )


def serve(settings: Settings) -> None:
    """Run the web app and REST API until interrupted.

    Raises:
        ConfigError: the port is taken, the corpus folder is missing or a setting is invalid.
    """
    import uvicorn

    from ui.security import check_exposure

    check_exposure(settings)
    _check_port_free(settings.host, settings.port)
    app = create_server_app(settings)
    url = f"http://{_display_host(settings.host)}:{settings.port}"
    _say(f"ready: open {url} in a browser (API docs: {url}/docs); Ctrl+C stops")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}); stop the other server or choose another port "
                "with --port or POLICYQA_PORT"
            ) from exc


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in {"0.0.0.0", ""} else f"[{host}]" if ":" in host else host


def _say(message: str) -> None:
    print(f"policyqa: {message}", file=sys.stderr, flush=True)
