"""Device choice: CUDA -> MPS -> CPU, chosen once, with an explicit override."""
from __future__ import annotations

import os

import torch

_threads_set = False


def pick_device(name: str | None = None) -> torch.device:
    """Return the device to render on.

    ``name`` is ``None``/``"auto"`` (CUDA, then Apple MPS, then CPU) or anything
    ``torch.device`` accepts (``"cpu"``, ``"cuda:1"``, ``"mps"``). Raises ``ValueError``
    with one line when the requested device is not available here.
    """
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            dev = torch.device("cuda")
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            dev = torch.device("mps")
        else:
            dev = torch.device("cpu")
    else:
        try:
            dev = torch.device(name)
        except RuntimeError as e:
            raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from e
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"device {name!r} requested but MPS is not available on this machine")
    if dev.type == "cpu":
        configure_cpu_threads()
    return dev


def configure_cpu_threads() -> int:
    """Use every core torch may use (respecting OMP_NUM_THREADS and the CPU affinity mask)."""
    global _threads_set
    if not _threads_set and "OMP_NUM_THREADS" not in os.environ:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            n = os.cpu_count() or 1
        torch.set_num_threads(max(1, n))
    _threads_set = True
    return torch.get_num_threads()


def amp_dtype(device: torch.device | str, amp: str | torch.dtype | None = "auto") -> torch.dtype | None:
    """The dtype the forward passes of a dream or an optimisation run in: ``"auto"`` is float16 on CUDA and
    float32 (``None``) elsewhere; ``None``/``"fp32"`` float32; ``"fp16"``, ``"bf16"`` or a dtype itself."""
    if isinstance(amp, torch.dtype):
        return None if amp == torch.float32 else amp
    if amp in (None, "fp32"):
        return None
    if amp == "auto":
        return torch.float16 if torch.device(device).type == "cuda" else None
    if amp in ("fp16", "bf16"):
        return torch.float16 if amp == "fp16" else torch.bfloat16
    raise ValueError(f"precision must be auto, fp32, fp16 or bf16 (got {amp!r})")
