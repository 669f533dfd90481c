"""Indexing: load → clean → chunk → embed → store."""

import sys

# jieba loads its dictionary through pkg_resources when that imports, and with the setuptools<81
# that milvus-lite needs (the `milvus` extra) it does: 0.27 s more for every command, and a
# deprecation warning on stderr. Without it jieba opens the same file itself. pkg_resources is
# blocked only while jieba is imported; milvus-lite imports it later if it is used.
if "jieba" not in sys.modules:
    _blocked = "pkg_resources" not in sys.modules
    if _blocked:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]
    try:
        import jieba  # noqa: F401
    finally:
        if _blocked:
            del sys.modules["pkg_resources"]
