"""User-facing edges: the CLI, the Gradio app, the REST API and the embed page."""
