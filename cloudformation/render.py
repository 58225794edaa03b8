"""Render every generated file from its sources: the templates in this folder and the Terraform module's.

Each src/<name>.yaml.j2 sets `model` and includes the fragments in src/shared/ that its deployment
model shares with the others, so a shared resource or statement is defined once; it becomes <name>.yaml
here. Each src/terraform/<name>.j2 becomes <name> in terraform/modules/scanner-native. Facts both kinds
share have one source: the tag keys the scanner writes come from its code
(qualys_lambda.publish.SCANNER_TAG_KEYS), the dashboard's widgets from src/shared/dashboard-widgets.yaml.
The rendered files are committed: users deploy them as they are.

    python cloudformation/render.py           # write every generated file (make templates)
    python cloudformation/render.py --check   # exit 1 if a committed file differs from its sources
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import jinja2
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = HERE / "src"
SUFFIX = ".yaml.j2"
TERRAFORM_MODULE = Path("terraform", "modules", "scanner-native")

sys.path.insert(0, str(ROOT / "scanner-lambda"))
from qualys_lambda.publish import SCANNER_TAG_KEYS  # noqa: E402 - the product's own list, found above

# The dashboard's ${name}s as CloudFormation's !Sub writes them; the Terraform template keeps each name
# as a templatefile variable (terraform/modules/scanner-native/dashboard.tf passes them).
CLOUDFORMATION_NAMES = {
    "region": "AWS::Region",
    "function_name": "ScannerFunction",
    "scan_queue": "ScanQueue.QueueName",
    "inventory_queue": "InventoryQueue.QueueName",
    "dead_letter_queue": "DeadLetterQueue.QueueName",
}
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def environment(src: Path) -> jinja2.Environment:
    """Jinja2 set up for YAML: block tags take no line of their own, undefined names fail."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(src),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, not HTML  # noqa: S701
    )
    env.filters["json"] = json.dumps  # Jinja's own tojson escapes for HTML
    return env


def dashboard_body(env: jinja2.Environment, src: Path, names: Mapping[str, str]) -> str:
    """The dashboard's JSON body with each ${name} written as `names` maps it (an unknown name fails)."""
    widgets = yaml.safe_load((src / "shared" / "dashboard-widgets.yaml").read_text())
    text = env.get_template("shared/dashboard.json.j2").render(widgets=widgets)
    return PLACEHOLDER.sub(lambda match: "${" + names[match.group(1)] + "}", text)


def render_all(src: Path = SRC) -> dict[Path, str]:
    """Each generated file's path from the repository root mapped to its rendering from `src`."""
    env = environment(src)
    env.globals["scanner_tag_keys"] = SCANNER_TAG_KEYS
    env.globals["dashboard_body"] = {
        "cloudformation": dashboard_body(env, src, CLOUDFORMATION_NAMES),
        "terraform": dashboard_body(env, src, {name: name for name in CLOUDFORMATION_NAMES}),
    }
    rendered = {
        HERE.relative_to(ROOT) / source.name.removesuffix(".j2"): env.get_template(source.name).render()
        for source in sorted(src.glob(f"*{SUFFIX}"))
    }
    for source in sorted((src / "terraform").glob("*.j2")):
        template = env.get_template(f"terraform/{source.name}")
        rendered[TERRAFORM_MODULE / source.name.removesuffix(".j2")] = template.render()
    return rendered


def write(rendered: dict[Path, str], root: Path = ROOT) -> None:
    for path, text in rendered.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def stale(rendered: dict[Path, str], root: Path = ROOT) -> list[str]:
    """A unified diff per file under `root` whose text differs from its rendering."""
    diffs = []
    for path, text in rendered.items():
        committed = (root / path).read_text() if (root / path).exists() else ""
        if committed != text:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        committed.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        f"{path} (committed)",
                        f"{path} (rendered from cloudformation/src)",
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
            print("generated files are stale: run `make templates` and commit src/ and what it writes", file=sys.stderr)
        return 1 if diffs else 0
    write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
