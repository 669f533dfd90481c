"""Question answering: retrieve → fuse → pick sentences → cite → check figures."""

import index  # noqa: F401  (imports jieba as index/__init__.py says, before any qa module does)
