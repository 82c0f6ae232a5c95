"""The device and dtype resolver shared by the embedder, its tuning and the local generator."""

from __future__ import annotations

import pytest
import torch

from knowledge_base.embedding.devices import DeviceChoice, is_cuda, resolve_device


def test_cpu_runs_in_float32() -> None:
    choice = resolve_device("cpu")
    assert choice == DeviceChoice("cpu", "float32")
    assert choice.torch_dtype() is torch.float32 and not choice.is_gpu


def test_auto_picks_what_this_machine_has() -> None:
    choice = resolve_device("auto")
    if torch.cuda.is_available():
        assert choice.device == "cuda" and choice.dtype_name in ("bfloat16", "float16")
    elif torch.backends.mps.is_available():
        assert choice == DeviceChoice("mps", "float16")
    else:  # this project's CI: a CPU machine
        assert choice == DeviceChoice("cpu", "float32")
    assert resolve_device("") == resolve_device(" AUTO ") == choice


def test_dtype_override() -> None:
    assert resolve_device("cpu", dtype="bfloat16") == DeviceChoice("cpu", "bfloat16")
    assert resolve_device("cpu", dtype="bfloat16").torch_dtype() is torch.bfloat16


@pytest.mark.parametrize("setting", ["gpu", "tpu", "cuda:x", "cpu0", "cuda:-1"])
def test_unknown_settings_are_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        resolve_device(setting)


def test_unknown_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="dtype 'int8'"):
        resolve_device("cpu", dtype="int8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda:0")


@pytest.mark.parametrize(("device", "cuda"), [
    ("cuda", True), ("cuda:1", True), (torch.device("cuda", 0), True),
    ("cpu", False), ("mps", False), (torch.device("cpu"), False), ("cudax", False),
])
def test_is_cuda_reads_strings_and_torch_devices(device: object, cuda: bool) -> None:
    # What batching (a model's `.device`) and training (a DeviceChoice) ask instead of naming "cuda".
    assert is_cuda(device) is cuda


def test_a_choice_knows_whether_it_is_cuda() -> None:
    assert DeviceChoice("cuda:0", "bfloat16").is_cuda and DeviceChoice("cuda:0", "bfloat16").is_gpu
    assert not DeviceChoice("mps", "float16").is_cuda and DeviceChoice("mps", "float16").is_gpu
    assert not resolve_device("cpu").is_cuda
