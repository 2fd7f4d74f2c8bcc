"""The layout docs/ARCHITECTURE.md describes is the code's: no import cycles, no private imports, a documented top."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "recon"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
MAX_TOP_LEVEL = 12


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_names(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for every recon import in ``path``, relative imports resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names if alias.name.split(".")[0] == "recon"]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "recon":
                found.append((module, [alias.name for alias in node.names]))
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for name, path in known.items():
        edges = set()
        for module, names in imported_names(path):
            for target in [f"{module}.{n}" for n in names] + [module]:
                if target in known:  # `from recon.pkg import module` imports the module
                    edges.add(target)
                    break
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_recon_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_no_module_imports_a_private_name_of_another():
    offenders = [
        f"{module_name(path)} imports {name} from {module}"
        for path in PACKAGE.rglob("*.py")
        for module, names in imported_names(path)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert offenders == []


def test_top_level_is_small_and_every_entry_is_documented():
    entries = sorted(
        p.name
        for p in PACKAGE.iterdir()
        if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists())
    )
    assert len(entries) <= MAX_TOP_LEVEL, entries
    tree = ARCHITECTURE.read_text().split("```")[1]
    documented = set(re.findall(r"^  (\w+(?:/|\.py))", tree, flags=re.M))
    assert {e if e.endswith(".py") else f"{e}/" for e in entries} == documented


def test_every_path_the_architecture_names_exists():
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`((?:recon|conf|tests|experiments|docs)/[\w/.<>-]*)`", text))
    missing = [p for p in named if "<" not in p and not (ROOT / p).exists()]
    assert missing == []


def test_no_docstring_points_outside_the_repository():
    pattern = re.compile(r"\.notes/|CONVENTIONS\.md|DESIGN\.md")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("recon", "tests", "conf")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".yaml") and path != Path(__file__) and pattern.search(path.read_text())
    ]
    assert offenders == []
