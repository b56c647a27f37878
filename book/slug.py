"""Heading anchors as JupyterLab makes them, for book/conf.py (a module, so Sphinx can pickle
the setting by name)."""


def jupyterlab_slug(text: str) -> str:
    """The heading's text with its spaces turned into hyphens."""
    return text.replace(" ", "-")
