"""Switches that keep Gradio and the Hugging Face libraries from reaching the network.

Imported by ``ui.app`` before Gradio itself: some of these are read at import.
The product runs where there is no internet; any request out would hang or leak.
Values already set by the person running the server are kept.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # no telemetry, no version check on start
    "GRADIO_RUN_HISTORY": "False",  # no run-history page (it offers a Hub upload)
    "GRADIO_SSR_MODE": "False",  # no Node server
    "GRADIO_MCP_SERVER": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
}

for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)
