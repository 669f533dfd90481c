"""A milvus-lite server on 127.0.0.1, for the tests and the benchmark: Milvus reached over
``http://`` exactly as a standalone server or a cluster is, on one machine.

    with LiteServer(Path("/tmp/m/bench.db")) as server:
        settings = settings.replace(store="milvus", milvus_uri=server.uri)

The engine is the ``milvus`` binary inside the ``milvus-lite`` wheel (a real C++ Milvus),
started on a free port with its log in a file beside the database; it is stopped by its
process id when the block ends. milvus-lite's own Python wrapper is not imported (it needs
pkg_resources and writes the engine's log to this process's terminal).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from pathlib import Path

from index.errors import ConfigError

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def engine_dir() -> Path:
    """The folder of milvus-lite's engine binary and its libraries.

    Raises:
        ConfigError: milvus-lite is not installed.
    """
    spec = importlib.util.find_spec("milvus_lite")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "需要安装 milvus-lite（make setup 会安装）。 milvus-lite is not installed: pip install -e '.[milvus]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


class LiteServer:
    """A milvus-lite engine serving ``db_file`` on 127.0.0.1 (a free port unless ``port`` is given)."""

    def __init__(self, db_file: Path, port: int | None = None) -> None:
        # milvus-lite accepts only short plain file names.
        self.db_file = Path(db_file).absolute()
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log_file = self.db_file.with_suffix(".log")
        self.process: subprocess.Popen | None = None

    def start(self) -> LiteServer:
        """Start the engine and wait until it accepts connections."""
        lib = engine_dir()
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LD_LIBRARY_PATH": f"{lib}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [str(lib / "milvus"), str(self.db_file), f"127.0.0.1:{self.port}", "ERROR"],
                cwd=self.db_file.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"milvus-lite exited at start (code {self.process.returncode}); see {self.log_file}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.stop()
        raise ConfigError(f"milvus-lite did not listen on port {self.port} within {READY_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        """Stop the engine (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> LiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m index.milvus_server DB_FILE [--port P]``: serve a milvus-lite database on
    127.0.0.1 until interrupted (several processes can then share it over http://)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="serve a milvus-lite database on 127.0.0.1 until interrupted")
    parser.add_argument("db_file", type=Path, help="the database file (a short plain name ending in .db)")
    parser.add_argument("--port", type=int, default=19530)
    args = parser.parse_args(argv)
    server = LiteServer(args.db_file, args.port).start()
    process = server.process
    assert process is not None  # started
    print(f"milvus-lite serving {args.db_file} at {server.uri} (log: {server.log_file}); Ctrl+C stops", flush=True)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # stopped like Ctrl+C: the engine with it
    try:
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
