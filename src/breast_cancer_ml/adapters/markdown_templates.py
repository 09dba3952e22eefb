"""The Jinja2 environment of the Markdown reports (MODEL_CARD.md, MODEL_SELECTION.md).

One setting for both, so a report cannot quietly print nothing: a misspelt name fails
(``StrictUndefined``), nothing is HTML-escaped (the output is Markdown), and the ``fmt``
filter is Python's own ``format`` (``{{ x | fmt(".4f") }}`` is exactly ``f"{x:.4f}"``).
"""

from __future__ import annotations

from typing import Any


def markdown_template(package: str, name: str, **functions: Any) -> Any:
    """The template ``name`` from ``package``'s ``templates/`` folder, with ``functions`` as
    globals the template may call."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=False,  # Markdown, not HTML
        undefined=jinja2.StrictUndefined,  # a misspelt name fails instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = format
    env.globals.update(functions)
    return env.get_template(name)
