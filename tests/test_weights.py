"""Weights files that are not what they claim (issue 14, part 5): one line naming the file and what is
wrong, and never a weights file unpickled with code execution (``weights_only``)."""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
import torchvision

from dreamreel.engine.backbones import get_backbone
from dreamreel.engine.weights import BackboneError, read_state_dict

from conftest import TUBINGEN, VGG16_CAFFE_LAYOUT, random_caffe_state


class Payload:
    """Unpickling this runs ``os.system`` (which would create the marker file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def vgg_state() -> dict[str, torch.Tensor]:
    return random_caffe_state(VGG16_CAFFE_LAYOUT)


def damaged(path: Path, at: float, data: bytes) -> Path:
    """The file with 64 bytes inverted at the fraction ``at`` of its length."""
    b = bytearray(data)
    i = int(len(b) * at)
    b[i : i + 64] = bytes(255 - x for x in b[i : i + 64])
    path.write_bytes(bytes(b))
    return path


def saved(path: Path, obj, **kw) -> Path:
    torch.save(obj, path, **kw)
    return path


def a_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "not weights")
    return path


# name -> (make it in a folder, the words of its one line: "{}" is the path)
FILES = {
    "empty.pth": (lambda d: (d / "empty.pth").write_bytes(b""), "weights file {} is empty (0 bytes)"),
    "text.pth": (lambda d: (d / "text.pth").write_text("these are not weights\n"),
                 "{} is not a PyTorch weights file (.pth / .pt, as torch.save writes them)"),
    # (random bytes, but not starting with 0x80, the pickle protocol opcode: 1 run in 256 read as a pickle)
    "random.pth": (lambda d: (d / "random.pth").write_bytes(b"\x00" + os.urandom(4999)),
                   "{} is not a PyTorch weights file (.pth / .pt, as torch.save writes them)"),
    "truncated.pth": (lambda d: (d / "truncated.pth").write_bytes(saved(d / "t", vgg_state()).read_bytes()[:4_000_000]),
                      "weights file {} is truncated: the file ends before the archive does (4,000,000 bytes)"),
    "corrupt.pth": (lambda d: damaged(d / "corrupt.pth", 0.5, saved(d / "c", vgg_state()).read_bytes()),
                    "weights file {} is corrupt: the checksum of its part "),
    "legacy_truncated.pth": (lambda d: (d / "legacy_truncated.pth").write_bytes(
        saved(d / "l", {"w": torch.zeros(8)}, _use_new_zipfile_serialization=False).read_bytes()[:300]),
        "weights file {} is damaged or truncated (a legacy PyTorch file that does not read)"),
    "plain_pickle.pth": (lambda d: (d / "plain_pickle.pth").write_bytes(pickle.dumps({"w": [1.0, 2.0]})),
                         "weights file {} is a plain Python pickle (protocol"),
    "zip.pth": (lambda d: a_zip(d / "zip.pth"),
                "weights file {} is a zip archive but not a PyTorch weights file"),
    "a_tensor.pth": (lambda d: saved(d / "a_tensor.pth", torch.zeros(3)),
                     "weights file {} does not hold a PyTorch state dict (it holds a single tensor of shape (3,))"),
    "a_model_dict.pth": (lambda d: saved(d / "a_model_dict.pth", {"model": vgg_state(), "epoch": 3}),
                         "weights file {} does not hold a PyTorch state dict (it holds a dict whose entry 'model' "
                         "is a dict, not a tensor)"),
    "nothing.pth": (lambda d: saved(d / "nothing.pth", {}), "weights file {} holds no tensors"),
    "nan.pth": (lambda d: saved(d / "nan.pth", {**vgg_state(), "features.5.bias": torch.full((128,), float("nan"))}),
                "weights file {} is damaged: its tensor features.5.bias holds NaN or infinite values"),
    # wrong architecture: a ResNet's state dict given as the Caffe VGG-16
    "resnet18.pth": (lambda d: saved(d / "resnet18.pth", torchvision.models.resnet18(weights=None).state_dict()),
                     "weights file {} does not fit vgg16_caffe: none of its tensors is one vgg16_caffe has (the file "
                     "has conv1.weight, vgg16_caffe needs features.0.weight): weights of another model?"),
    # wrong convention: the keys fit, the shapes do not (5x5 kernels)
    "vgg_5x5.pth": (lambda d: saved(d / "vgg_5x5.pth", {k: (torch.zeros(*v.shape[:2], 5, 5) if v.dim() == 4 else v)
                                                       for k, v in vgg_state().items()}),
                    "weights file {} does not fit vgg16_caffe: features.0.weight is 64x3x5x5 in the file, "
                    "vgg16_caffe needs 64x3x3x3 (another variant or layout of the model?)"),
    "vgg19_as_vgg16.pth": (lambda d: saved(d / "vgg19_as_vgg16.pth", {**vgg_state(), "features.30.weight":
                                                                      torch.zeros(512, 512, 3, 3)}),
                           None),  # extra tensors of a Caffe file (a classifier, more layers) are not used: loads
}


@pytest.mark.parametrize("name", list(FILES))
def test_a_bad_weights_file_is_one_line_naming_it(tmp_path, name):
    make, words = FILES[name]
    make(tmp_path)
    path = tmp_path / name
    if words is None:
        assert get_backbone("vgg16_caffe", weights=str(path)).name == "vgg16_caffe"
        return
    with pytest.raises(BackboneError) as e:
        get_backbone("vgg16_caffe", weights=str(path))
    msg = str(e.value)
    assert msg.startswith(words.format(path)) and len(msg.splitlines()) == 1, msg


def test_a_bad_weights_file_on_the_command_line_is_one_line_and_exit_2(run_cli, tmp_path):
    FILES["resnet18.pth"][0](tmp_path)
    out = tmp_path / "o.png"
    code, _, err = run_cli("dream", TUBINGEN, "-o", out, "--size", 64, "--steps", 1, "--octaves", 1,
                           "--model", "vgg16_caffe", "--weights", tmp_path / "resnet18.pth")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: weights file {tmp_path / 'resnet18.pth'} "
                                                                 f"does not fit vgg16_caffe"), err
    assert not out.exists()


def test_lite0_weights_with_a_tensor_it_does_not_have_is_one_line(tmp_path):
    from dreamreel.engine import lite0

    state = torch.load(lite0.embedded_weights_path(), map_location="cpu", weights_only=True)
    path = saved(tmp_path / "lite0.pth", {**state, "_extra.weight": torch.zeros(1)})
    with pytest.raises(BackboneError, match=r"does not fit efficientnet_lite0: it has a tensor efficientnet_lite0 "
                                            r"does not \(_extra.weight\)"):
        get_backbone("efficientnet_lite0", weights=str(path))


@pytest.mark.parametrize("how", ["torch.save", "pickle protocol 2", "pickle protocol 5"])
def test_a_weights_file_is_never_unpickled_with_code(tmp_path, how):
    """A file whose unpickling would run code (a __reduce__ payload that creates a marker file) is
    refused with one line, and the code never runs."""
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pth"
    obj = {"features.0.weight": torch.zeros(64, 3, 3, 3), "x": Payload(marker)}
    if how == "torch.save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=int(how[-1])))
    with pytest.raises(BackboneError) as e:
        read_state_dict(str(path))
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and msg.startswith(f"weights file {path} ")
    assert "never unpickled with code" in msg
    assert not marker.exists()
    with pytest.raises(BackboneError):
        get_backbone("vgg16_caffe", weights=str(path))
    assert not marker.exists()
    # (the payload is real: unpickling it without weights_only would have made the marker)
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()
