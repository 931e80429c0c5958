"""Imports point downward only (DESIGN.md): an AST walk over src/scarce."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "scarce"
# lower number = lower layer; a module may import only its own layer or lower ones
LAYER = {
    "core": 0,
    "data": 1,
    "encoders": 2,
    "methods": 3,
    "evaluation": 4,
    "report": 4,
    "bundle": 4,
    "api": 5,
    "export": 5,
    "demo": 6,
    "serve": 7,
    "cli": 7,
}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "scarce" or len(parts) < 2:
        return None
    return parts[1]


def test_imports_point_down():
    bad = []
    for f in SRC.rglob("*.py"):
        rel = f.relative_to(SRC)
        if rel.parts[0] == "__init__.py":
            continue
        own = rel.parts[0].removesuffix(".py")
        assert own in LAYER, f"{rel}: add its layer to LAYER"
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                target = layer_of(n)
                if target and target in LAYER and LAYER[target] > LAYER[own]:
                    bad.append(f"{rel} imports {n}")
    assert not bad, "\n".join(bad)


def test_readme_test_command_is_what_ci_runs():
    root = SRC.parents[1]
    readme = (root / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    lines = [ln for ln in block.splitlines()[1:] if ln.strip()]
    assert len(lines) == 2
    assert lines[1] in (root / ".ci" / "run").read_text()
    assert "scarce demo" in lines[0]
