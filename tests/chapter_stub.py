"""A minimal jupytext MyST chapter with a papermill parameters cell, for runner and build tests."""
from pathlib import Path

HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def write_chapter(path: Path, body: str) -> Path:
    path.write_text(HEADER + "\n```{code-cell} ipython3\n:tags: [parameters]\n\nprofile = 'quick'\n"
                    "device = 'auto'\nseed = 1\n```\n\n```{code-cell} ipython3\n" + body + "\n```\n")
    return path
