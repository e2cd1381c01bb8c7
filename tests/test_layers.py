"""The house's layers, read from the code: every module's imports (those inside functions and under
TYPE_CHECKING too) against ``dreamreel.animator.LAYERS``. No import circle; no import that goes up a layer or
across to another unit of the same layer; every module in a declared unit; at most 8 modules directly in
animator/."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dreamreel.animator import LAYERS

ROOT = Path(__file__).resolve().parents[1]
#: the repository's folders and the import packages they install as (pyproject's package-dir)
FOLDERS = {"engine": "engine", "animator": "animator", "presets": "presets"}


def module_files(root: Path, folders: dict[str, str]) -> dict[str, Path]:
    """Module name (under ``dreamreel.``, e.g. ``animator.clips.video``; a package by its own name) -> file."""
    out = {}
    for folder, package in folders.items():
        for f in sorted((root / folder).rglob("*.py")):
            parts = [package, *f.relative_to(root / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, anywhere in its file. ``from P import m`` where P.m is a module is an
    import of P.m (and of P only where a name is not a module)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def project(dotted: str) -> str | None:
        dotted = dotted.removeprefix("dreamreel.") if dotted.startswith("dreamreel.") else None
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (m := project(alias.name)) is not None:
                    found.add(m)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = "dreamreel." + ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = project(f"{target}.{alias.name}")
                whole = project(target)
                if sub is not None and sub != whole:
                    found.add(sub)
                elif whole is not None:
                    found.add(whole)
    found.discard(name)
    return found


def unit_of(module: str, layers) -> tuple[int, str] | None:
    """(layer index, unit) of the longest unit that ``module`` is or lies in."""
    best = None
    for i, units in enumerate(layers):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best[1])):
                best = (i, unit)
    return best


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles (strongly connected components of more than one module, or a module importing itself)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def violations(graph: dict[str, set[str]], layers) -> list[str]:
    """Each import that goes up a layer or across to another unit of its layer, and each module in no unit."""
    bad = []
    for a in sorted(graph):
        ua = unit_of(a, layers)
        if ua is None:
            if "." in a:  # (the bare packages ``animator``: no unit of their own, and they import nothing)
                bad.append(f"{a} is in no layer (dreamreel.animator.LAYERS)")
            continue
        for b in sorted(graph[a]):
            ub = unit_of(b, layers)
            if ub is None or ub[1] == ua[1] or b == "animator":
                continue
            if ub[0] > ua[0]:
                bad.append(f"{a} imports {b}: up from layer {ua[0]} ({ua[1]}) to {ub[0]} ({ub[1]})")
            elif ub[0] == ua[0]:
                bad.append(f"{a} imports {b}: across layer {ua[0]}, from {ua[1]} to {ub[1]}")
    return bad


def project_graph(root: Path = ROOT, folders: dict[str, str] = FOLDERS) -> dict[str, set[str]]:
    files = module_files(root, folders)
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def test_no_import_circle():
    assert cycles(project_graph()) == []


def test_every_import_goes_down_the_layers():
    assert violations(project_graph(), LAYERS) == []


def test_the_animator_folder_keeps_at_most_8_modules():
    direct = sorted(p.name for p in (ROOT / "animator").glob("*.py"))
    assert len(direct) <= 8, direct


def test_a_clips_road_goes_down_once():
    """From the command to the method to the frame loop to media: each step imports only the ones after it."""
    graph = project_graph()
    road = ["animator.front.commands", "animator.clips.video", "animator.clips.registry", "animator.clips.keyframes",
            "animator.frameloop.render", "animator.frameloop.scheduler", "animator.media.mp4"]
    reach = {}
    for m in reversed(road):  # everything each module reaches, through any path
        seen, todo = set(), [m]
        while todo:
            for w in graph[todo.pop()] - seen:
                seen.add(w)
                todo.append(w)
        reach[m] = seen
    for i, m in enumerate(road):
        assert not reach[m] & set(road[:i]), f"{m} reaches back up to {sorted(reach[m] & set(road[:i]))}"
    assert road[1] in graph[road[0]] and road[2] in graph[road[1]] and road[3] in graph[road[2]]


def test_the_clip_methods_registry_matches_the_names_a_config_accepts():
    from dreamreel.animator.clips.registry import METHODS
    from dreamreel.animator.request.configs import METHODS as NAMES

    assert sorted(METHODS) == sorted((*NAMES, "dream"))
    assert all(cls.name == name for name, cls in METHODS.items())


# ------------------------------------------------------------------ the checks themselves catch what they are for


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return project_graph(tmp_path, {"animator": "animator"})


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    graph = _tree(tmp_path, {
        "animator/__init__.py": "",
        "animator/low/__init__.py": "",
        "animator/low/a.py": "def f():\n    from .b import g\n",
        "animator/low/b.py": "from . import a\n",
    })
    assert cycles(graph) == [["animator.low.a", "animator.low.b"]]


def test_an_import_up_a_layer_or_across_a_layer_is_found(tmp_path):
    graph = _tree(tmp_path, {
        "animator/__init__.py": "",
        "animator/low/__init__.py": "",
        "animator/low/a.py": "def f():\n    from ..high.c import h\n",
        "animator/high/__init__.py": "",
        "animator/high/c.py": "from ..low import a\nfrom ..side import d\n",
        "animator/side/__init__.py": "",
        "animator/side/d.py": "import dreamreel.animator.low.a\n",
        "animator/stray.py": "",
    })
    layers = (("animator.low",), ("animator.high", "animator.side"))
    assert violations(graph, layers) == [
        "animator.high.c imports animator.side.d: across layer 1, from animator.high to animator.side",
        "animator.low.a imports animator.high.c: up from layer 0 (animator.low) to 1 (animator.high)",
        "animator.stray is in no layer (dreamreel.animator.LAYERS)",
    ]


@pytest.mark.parametrize("module", ["animator.clips.video", "animator.cluster.split", "engine.weights"])
def test_the_reader_sees_function_level_and_type_checking_imports(module):
    graph = project_graph()
    want = {"animator.clips.video": "animator.clips.registry", "animator.cluster.split": "animator.clips.registry",
            "engine.weights": "engine.specs"}
    assert want[module] in graph[module]
