"""No host syncs in the step loops (issue 22, part 2), checked statically, everywhere (CI has no GPU).

A call of ``.item()``, ``.cpu()``, ``.numpy()`` or ``.tolist()`` in a function a frame's step loop runs makes the
host wait for the GPU at every step. These functions must have none, except on a line that says why it is a
host tensor (``# host: ...``). On a GPU, tests/test_gpu.py runs a dream under ``torch.cuda.set_sync_debug_mode``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

SYNCS = {"item", "cpu", "numpy", "tolist"}
#: file -> the functions (Class.method or function) a frame's step loop runs
STEP_LOOPS = {
    "engine/deepdream.py": ["objective_gradient", "LossScale.unscale", "dream_step", "dream", "ascend",
                           "OctaveClimb.advance"],
    "engine/style/transfer.py": ["StyleTransfer.objective", "StyleTransfer._closure", "StyleTransfer.run",
                                 "StyleTransfer._iteration_done"],
    "engine/style/network.py": ["StyleNet.forward", "StyleNet.stylize", "NetTrainer.loss", "NetTrainer._batch",
                                "NetTrainer.train", "NetTrainer._style_content"],
    "engine/style/stats.py": None,  # every function: the Gram statistics and their backward
    "engine/imageops.py": ["resize", "gaussian_blur"],
    # a zoom frame's warp on a GPU (OpenCV's is the CPU's)
    "engine/warp.py": ["warp_affine_torch", "_sample", "_fold"],
    # a zoom's colour coherence on a GPU frame (the numpy path is the CPU's)
    "animator/frameloop/color.py": ["ColorMatcher._match_torch", "_rgb_to_space_t", "_space_to_rgb_t", "_quantile_t",
                          "_match_channel_t", "_mix"],
}


def functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def syncs_in(path: Path, names: list[str] | None) -> tuple[list[str], set[str]]:
    text = path.read_text()
    lines = text.splitlines()
    found, seen = [], set()
    for name, fn in functions(ast.parse(text)):
        if names is not None and name not in names:
            continue
        seen.add(name)
        for node in ast.walk(fn):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SYNCS
                    and "# host:" not in lines[node.lineno - 1]):
                found.append(f"{path.name}:{node.lineno} {name}: .{node.func.attr}()")
    return found, seen


@pytest.mark.parametrize("file", list(STEP_LOOPS))
def test_the_step_loops_make_no_host_syncs(file):
    names = STEP_LOOPS[file]
    found, seen = syncs_in(REPO / file, names)
    if names is not None:
        assert set(names) <= seen, f"renamed or gone: {sorted(set(names) - seen)} (update STEP_LOOPS)"
    assert found == [], found


def test_the_check_finds_a_sync(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def step(x):\n    for i in range(3):\n        x = x * float(x.mean().item())\n    return x\n")
    found, _ = syncs_in(bad, ["step"])
    assert found == ["bad.py:3 step: .item()"]
