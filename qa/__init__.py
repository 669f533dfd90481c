"""Question answering: retrieve → fuse → pick sentences → cite → check figures."""
