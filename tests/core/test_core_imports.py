"""The import structure the design promises, read from the source (AST), so a stray import
fails here rather than in review: plugins see only the plugin contract, and the core has no
import circles (the built-in backends get a CoreContext instead of importing the Runtime)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_CONTRACT = ("core.framework", "core.registry")


def _module_name(file: Path) -> str:
    parts = list(file.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(file: Path, package: str) -> set[str]:
    """Every module a file imports, wherever the import statement is (module level, inside a
    function, under TYPE_CHECKING): each of them is a dependency someone can trip over.
    `package` is the file's package, for relative imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from core.framework import fields` imports the submodule `fields`.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _package_of(file: Path) -> str:
    name = _module_name(file)
    return name if file.name == "__init__.py" else name.rpartition(".")[0]


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_plugins_import_only_the_plugin_contract_from_core() -> None:
    offending = []
    for file in _sources("plugins"):
        for module in sorted(_imports(file, _package_of(file))):
            if _in(module, ("core",)) and not _in(module, PLUGIN_CONTRACT):
                offending.append(f"{file.relative_to(ROOT)} imports {module}")
    assert offending == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    # The walk finds imports however they are spelt, including inside functions.
    source = tmp_path / "mod.py"
    source.write_text(
        "from core.framework import Path\n"
        "def f():\n"
        "    from core.tokens.store import ip_allowed\n"
        "    import core.server\n"
        "from . import sibling\n"
    )
    found = _imports(source, "plugins.demo")
    assert {"core.framework", "core.tokens.store", "core.server", "plugins.demo.sibling"} <= found


def _core_graph() -> dict[str, set[str]]:
    modules = {_module_name(file): file for file in _sources("core")}
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        imported = _imports(file, _package_of(file))
        graph[name] = {module for module in imported if module in modules} - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each module that can reach itself (depth-first search)."""
    found: list[list[str]] = []
    for start in sorted(graph):
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    found.append([*trail, start])
                    stack.clear()
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    return found


def test_core_has_no_import_circles() -> None:
    # A package's __init__ importing its own submodules is not a circle worth reporting
    # unless a submodule imports the package back, which the graph still shows.
    assert _cycles(_core_graph()) == []


def test_builtin_backends_do_not_import_the_runtime() -> None:
    graph = _core_graph()
    for name in graph:
        if _in(name, ("core.sys", "core.tokens", "core.context")):
            assert "core.runtime" not in graph[name], name


def test_a_server_process_loads_no_client_libraries() -> None:
    """What `wardgate server` loads before it forks its workers is in every worker's memory:
    the CLI's HTTP client and output libraries (httpx, with click, rich and pygments behind it;
    PyYAML) and the STS emulator's Hypercorn have no business there (RSS of a 2-worker server:
    187 -> 158 MB when they went)."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from core.cli import _dispatch\n"
        "from core.cli.server import server_command\n"
        "from core.registry import default_registry\n"
        "from core.app import build_app\n"
        "default_registry()\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(out.stdout.split())
    assert "core" in loaded and "aiohttp" in loaded  # the probe did load the server's parts
    assert not loaded & {"httpx", "click", "rich", "pygments", "yaml", "hypercorn"}
