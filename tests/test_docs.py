"""Generated documentation stays in step with the code that generates it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from providers.matrix import render_matrix, replace_matrix


def test_readme_capability_matrix_is_current():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    assert render_matrix() in readme
    assert replace_matrix(readme) == readme
