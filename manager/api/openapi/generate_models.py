"""Writes the response models of the served OpenAPI document from the Flamenco specs.

Run from the repository root with datamodel-code-generator installed (a development tool, not
a dependency of the manager): ``python manager/api/openapi/generate_models.py``. The models
only document responses; the routes answer with the bodies they build themselves.

Two adjustments keep the served document readable, since FastAPI names a schema after its
class and spells out the module of each of two same-named classes:

- v3 schemas that ``manager.api.v3.schemas`` already models as request bodies are taken from
  there, so a schema used both ways is one component;
- the 2022 models carry a ``Flamenco2022`` prefix;
- ``Error``, the same in both, is ``manager.web.openapi.Error``.
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SPECS = ROOT / "manager" / "api" / "openapi"
HEADER = '''"""Response models generated from ``{spec}`` by
``manager/api/openapi/generate_models.py``: edit that script or the spec, not this file."""

# ruff: noqa: E501
'''


def codegen(spec: Path) -> str:
    out = subprocess.run(
        [
            "datamodel-codegen",
            *("--input", str(spec), "--input-file-type", "openapi"),
            *("--output-model-type", "pydantic_v2.BaseModel"),
            *("--target-python-version", "3.11", "--disable-timestamp"),
            "--use-standard-collections",
            "--use-union-operator",
            "--use-annotated",
            "--field-constraints",
            "--use-double-quotes",
            "--set-default-enum-member",
            "--no-formatters",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split("\n", 3)[3] if out.startswith("# generated") else out


def class_names(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)}


def drop_classes(source: str, names: set[str]) -> str:
    lines = source.splitlines(keepends=True)
    for node in sorted(
        (n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name in names),
        key=lambda n: n.lineno,
        reverse=True,
    ):
        assert node.end_lineno is not None
        del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def rename(source: str, names: set[str], prefix: str) -> str:
    """Prefix the names in code, leaving the same words in descriptions alone."""
    tokens = [
        (t.type, prefix + t.string if t.type == tokenize.NAME and t.string in names else t.string)
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
    ]
    return tokenize.untokenize(tokens)


def v3() -> str:
    source = codegen(SPECS / "flamenco-v3.9.yaml")
    request_bodies = class_names((ROOT / "manager" / "api" / "v3" / "schemas.py").read_text())
    shared = sorted(class_names(source) & request_bodies)
    source = drop_classes(source, {*shared, "Error"})
    imports = "from manager.api.v3.schemas import (\n" + "".join(f"    {n},\n" for n in shared)
    source = source.replace("\n\n", f"\n{imports})\n\n", 1)
    return HEADER.format(spec="flamenco-v3.9.yaml") + source


def v2022() -> str:
    source = codegen(SPECS / "flamenco-2022.yaml")
    source = drop_classes(source, {"Error"})
    source = rename(source, class_names(source), "Flamenco2022")
    return HEADER.format(spec="flamenco-2022.yaml") + source


def write(path: Path, source: str) -> None:
    path.write_text(source)
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "check", "--fix", "--quiet", str(path)], check=False)
    subprocess.run([*ruff, "format", "--quiet", str(path)], check=True)


if __name__ == "__main__":
    write(ROOT / "manager" / "api" / "v3" / "spec_models.py", v3())
    write(ROOT / "manager" / "protocols" / "flamenco2022_spec.py", v2022())
