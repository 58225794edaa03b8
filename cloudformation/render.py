"""Render the deployable templates in this folder from their sources in src/ (Jinja2).

Each src/<name>.yaml.j2 sets `model` and includes the fragments in src/shared/ that its deployment
model shares with the others, so a shared resource or statement is defined once. The rendered
<name>.yaml files are committed: users deploy them as they are.

    python cloudformation/render.py           # write every template
    python cloudformation/render.py --check   # exit 1 if a committed template differs from its source
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

import jinja2

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
SUFFIX = ".yaml.j2"


def environment(src: Path) -> jinja2.Environment:
    """Jinja2 set up for YAML: block tags take no line of their own, undefined names fail."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(src),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, not HTML  # noqa: S701
    )


def render_all(src: Path = SRC) -> dict[str, str]:
    """Each template's file name (e.g. stackset.yaml) mapped to its rendering from `src`."""
    env = environment(src)
    return {
        source.name.removesuffix(".j2"): env.get_template(source.name).render()
        for source in sorted(src.glob(f"*{SUFFIX}"))
    }


def stale(rendered: dict[str, str], folder: Path = HERE) -> list[str]:
    """A unified diff per template in `folder` whose text differs from its rendering."""
    diffs = []
    for name, text in rendered.items():
        path = folder / name
        committed = path.read_text() if path.exists() else ""
        if committed != text:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        committed.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        f"{path.name} (committed)",
                        f"{path.name} (rendered from src/)",
                    )
                )
            )
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    rendered = render_all()
    if args.check:
        diffs = stale(rendered)
        for diff in diffs:
            sys.stdout.write(diff)
        if diffs:
            print("templates are stale: run `make templates` and commit both src/ and the templates", file=sys.stderr)
        return 1 if diffs else 0
    for name, text in rendered.items():
        (HERE / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
