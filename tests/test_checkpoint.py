"""Checkpoints (emulators.checkpoint): every file that is not a usable model checkpoint is a
CheckpointError naming the file and what is wrong; writes never destroy; dtype/device round trips."""

from __future__ import annotations

import io
import os
import pickle
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from model_harness import single_thread  # noqa: F401  (autouse fixture)

from emulators import (
    CheckpointError,
    EmulatorInputError,
    build_model,
    load_model,
    read_checkpoint,
    save_model,
)
from emulators.checkpoint import FORMAT_VERSION, load_state_dict_checked
from emulators.errors import CheckpointNotFoundError, EmulatorOutputExistsError, EmulatorTypeError

FNO = {"n_modes": [4, 4], "in_channels": 2, "out_channels": 2, "hidden_channels": 4, "n_layers": 1}


@pytest.fixture
def good(tmp_path) -> Path:
    torch.manual_seed(0)
    return save_model(build_model("fno", FNO), tmp_path / "model.pt")


def _payload(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _rewrite(good: Path, tmp_path: Path, change) -> Path:
    """A copy of the good checkpoint with ``change(payload)`` applied."""
    payload = _payload(good)
    change(payload)
    out = tmp_path / "changed.pt"
    torch.save(payload, out)
    return out


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, weights=np.zeros(3))
    return buf.getvalue()


def _npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    return buf.getvalue()


# ------------------------------------------------------------------------ files that are not checkpoints
NOT_CHECKPOINTS = {
    "yaml": (b"model:\n  name: fno\n  config: {n_layers: 2}\n", "a text file starting 'model:'"),
    "text": ("résumé of the run\nloss 0.1\n".encode(), "a text file starting 'résumé of the run'"),
    "json": (b'{"model": "fno"}', "a text file"),
    "random": (
        np.random.default_rng(0).bytes(4096),
        "not a torch checkpoint (4096 bytes of unrecognised data",
    ),
    "npy": (_npy(), "a NumPy .npy file"),
    "npz": (_npz(), "a zip archive holding weights.npy, not a torch checkpoint"),
    "hdf5": (b"\x89HDF\r\n\x1a\n" + bytes(200), "an HDF5 / netCDF-4 file"),
    "netcdf3": (b"CDF\x01" + bytes(200), "a netCDF-3 file"),
    "gzip": (b"\x1f\x8b\x08\x00" + bytes(100), "a gzip-compressed file"),
    "pickle": (pickle.dumps({"state_dict": {}}), "a Python pickle"),
}


@pytest.mark.parametrize("kind", sorted(NOT_CHECKPOINTS))
def test_file_of_another_kind(kind, tmp_path):
    data, what = NOT_CHECKPOINTS[kind]
    path = _write(tmp_path / f"model.{kind}", data)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and what in message, message


def test_truncated_checkpoint(good, tmp_path):
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 100):
        path = _write(tmp_path / "cut.pt", data[:cut])
        with pytest.raises(CheckpointError, match=r"cut\.pt: a truncated or damaged torch checkpoint"):
            load_model(path)


def test_empty_file_folder_and_missing(tmp_path):
    empty = _write(tmp_path / "empty.pt", b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt: empty file \(0 bytes\)"):
        load_model(empty)
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        load_model(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match=r"nothere\.pt: no such checkpoint file") as info:
        load_model(tmp_path / "nothere.pt")
    assert isinstance(info.value, FileNotFoundError)  # callers catching FileNotFoundError keep working


def test_pickled_objects_are_refused_not_run(tmp_path):
    """A checkpoint holding arbitrary Python objects is refused by the weights-only load (naming the
    class), and nothing in it is executed."""
    path = tmp_path / "objects.pt"
    torch.save({"format": 1, "model": zipfile.ZipInfo("x"), "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=r"objects\.pt: holds Python objects .*zipfile\.ZipInfo"):
        load_model(path)


def test_non_dict_payload(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match=r"tensor\.pt: holds a Tensor, not a checkpoint dictionary"):
        load_model(path)


# ------------------------------------------------------------------------ torch files that are not model files
@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda p: p.update(format=999), "checkpoint format version 999 is not supported"),
        (lambda p: p.update(format=999), "written by a newer version of the package"),
        (lambda p: p.update(format="1"), "format version '1' is not supported"),
        (lambda p: p.pop("format"), "has no format version"),
        (
            lambda p: p.pop("state_dict"),
            "not a model checkpoint written by emulators.save_model (no state_dict",
        ),
        (lambda p: p.pop("model"), "(no model;"),
        (lambda p: p.update(model={"config": {}}), "its 'model' entry has no name/config"),
        (lambda p: p.update(model={"name": 3, "config": {}}), "its model name must be a string"),
        (
            lambda p: p["model"].update(config=[1, 2]),
            "the config of its model 'fno' must be a dict, got list",
        ),
        (lambda p: p.update(state_dict=[1, 2]), "its 'state_dict' must be a dict of tensors, got list"),
        (lambda p: p["state_dict"].update({"lifting.fc1.weight": 3.0}), "entries that are not tensors"),
        (lambda p: p.update(extra="notes"), "its 'extra' entry must be a dict"),
        (lambda p: p["model"].update(name="fnoo"), "its model 'fnoo' cannot be built: unknown model 'fnoo'"),
        (
            lambda p: p["model"]["config"].update(n_layers=0),
            "FNOConfig.n_layers must be an integer >= 1, got 0",
        ),
        (lambda p: p["model"]["config"].update(widths=[4]), "unknown config key(s) ['widths']"),
        (lambda p: p["model"]["config"].update(n_layers="one"), "config key 'n_layers' must be int"),
    ],
    ids=[
        "future",
        "future-hint",
        "format-str",
        "no-format",
        "no-state-dict",
        "no-model",
        "no-name",
        "name-int",
        "config-list",
        "state-list",
        "state-float",
        "extra-str",
        "unknown-model",
        "config-rejected",
        "config-unknown-key",
        "config-wrong-type",
    ],  # fmt: skip
)
def test_not_a_usable_model_file(good, tmp_path, change, fragment):
    path = _rewrite(good, tmp_path, change)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and fragment in message, message


def test_missing_required_config_key(tmp_path):
    torch.manual_seed(0)
    good = save_model(
        build_model("shplrnn", {"obs_dim": 2, "latent_dim": 3, "hidden_dim": 4}), tmp_path / "s.pt"
    )
    path = _rewrite(good, tmp_path, lambda p: p["model"]["config"].pop("obs_dim"))
    with pytest.raises(CheckpointError, match=r"changed\.pt: .*\['obs_dim'\] are required"):
        load_model(path)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (
            lambda sd: sd.update({"lifting.fc1.weight": torch.zeros(9, 2, 1, 1)}),
            [
                "1 weights of another shape",
                "lifting.fc1.weight: checkpoint (9, 2, 1, 1) vs model (8, 2, 1, 1)",
            ],
        ),
        (lambda sd: sd.pop("skips.0.weight"), ["1 weights missing (skips.0.weight)"]),
        (lambda sd: sd.update(extra_layer=torch.zeros(2)), ["1 unexpected weights (extra_layer)"]),
    ],
    ids=["shape", "missing", "unexpected"],
)
def test_weights_that_do_not_fit(good, tmp_path, change, fragments):
    path = _rewrite(good, tmp_path, lambda p: change(p["state_dict"]))
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: does not fit the FNO being built")
    assert all(f in message for f in fragments), message
    assert "configuration changed" in message


def test_weights_of_a_wider_model(tmp_path):
    """The typical mistake: a checkpoint of hidden_channels=8 loaded into a model built with 4."""
    torch.manual_seed(0)
    wide = save_model(build_model("fno", {**FNO, "hidden_channels": 8}), tmp_path / "wide.pt")
    narrow = build_model("fno", FNO)
    with pytest.raises(
        CheckpointError, match=r"wide\.pt: does not fit the FNO being built: \d+ weights of another shape"
    ):
        load_state_dict_checked(narrow, _payload(wide)["state_dict"], wide)


# ------------------------------------------------------------------------ arguments
def test_bad_arguments(good, tmp_path):
    with pytest.raises(EmulatorTypeError, match="path: expected a file path"):
        load_model(None)
    with pytest.raises(EmulatorTypeError, match="path: expected a file path"):
        load_model(torch.zeros(2))
    with pytest.raises(EmulatorInputError, match="map_location: 'gpu0' is not a device"):
        load_model(good, map_location="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(EmulatorInputError, match="map_location='cuda': CUDA is not available here"):
            read_checkpoint(good, map_location="cuda")
    with pytest.raises(EmulatorTypeError, match="map_location: expected a device"):
        load_model(good, map_location=3.5)


# ------------------------------------------------------------------------ writing
def test_save_refuses_to_overwrite(good, tmp_path):
    before = good.read_bytes()
    other = build_model("fno", {**FNO, "hidden_channels": 6})
    with pytest.raises(EmulatorOutputExistsError, match=r"model\.pt: exists; pass overwrite=True") as info:
        save_model(other, good)
    assert isinstance(info.value, FileExistsError)
    assert good.read_bytes() == before
    save_model(other, good, overwrite=True)
    assert load_model(good)[0].config.hidden_channels == 6


def test_save_bad_arguments(tmp_path):
    model = build_model("fno", FNO)
    with pytest.raises(EmulatorInputError, match="is a folder; give a file path"):
        save_model(model, tmp_path)
    with pytest.raises(EmulatorTypeError, match="not built through the registry"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "linear.pt")
    with pytest.raises(
        EmulatorTypeError, match=r"extra\['stats'\]\['mean'\]: a numpy.ndarray .*torch.from_numpy"
    ):
        save_model(model, tmp_path / "np.pt", extra={"stats": {"mean": np.zeros(3)}})
    with pytest.raises(EmulatorTypeError, match="extra: expected a dict"):
        save_model(model, tmp_path / "list.pt", extra=[1, 2])
    # nothing was left behind by the refused writes (no partial or temporary files)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_save_is_atomic_and_has_the_ordinary_mode(good, tmp_path):
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(good.stat().st_mode) == 0o666 & ~umask


def test_extra_round_trip_with_plain_values(tmp_path):
    extra = {
        "channels": ["z500", "t850"],
        "normalisation": {"mean": torch.tensor([1.0, 2.0], dtype=torch.float64)},
        "step": 10,
        "lr": 1e-3,
        "flags": (True, None),
        "dtype": torch.float32,
    }
    path = save_model(build_model("fno", FNO), tmp_path / "m.pt", extra=extra)
    _, got = load_model(path)
    assert got["channels"] == ["z500", "t850"] and got["step"] == 10 and got["dtype"] == torch.float32
    assert torch.equal(got["normalisation"]["mean"], extra["normalisation"]["mean"])


# ------------------------------------------------------------------------ dtype and device
def test_round_trip_keeps_dtype(tmp_path):
    torch.manual_seed(0)
    model = build_model("fno", FNO).double()
    loaded, _ = load_model(save_model(model, tmp_path / "f64.pt"))
    assert {p.dtype for p in loaded.parameters()} == {torch.float64}
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    assert torch.equal(loaded(x), model(x))
    # a model whose constructor makes float64 buffers, saved in float32, comes back float32
    esn = build_model("esn", {"input_dim": 2, "reservoir_dim": 10}).float()
    loaded, _ = load_model(save_model(esn, tmp_path / "esn32.pt"))
    assert loaded.w_res.dtype == torch.float32 and loaded.fitted.dtype == torch.bool


def test_round_trip_keeps_mixed_dtypes(tmp_path):
    """Entries saved in different dtypes keep each its own dtype."""
    model = build_model("phyxmamba", {"n_vars": 2, "embed_dim": 1, "tau": 1, "token_size": 2, "lookback": 4,
                                      "d_model": 8, "d_state": 4, "headdim": 4, "hier_layers": 1, "mtp_steps": 0})  # fmt: skip
    model.data_mean = model.data_mean.double()
    loaded, _ = load_model(save_model(model, tmp_path / "mixed.pt"))
    assert loaded.data_mean.dtype == torch.float64 and loaded.lm_head.weight.dtype == torch.float32


def test_map_location_puts_the_model_on_that_device(good):
    """``map_location="meta"`` stands in for a GPU on a CPU-only machine: every parameter and buffer
    (non-persistent ones included) ends up on the requested device, and the default is the CPU."""
    model, _ = load_model(good, map_location="meta")
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"meta"}
    model, _ = load_model(good)
    assert {p.device.type for p in model.parameters()} == {"cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model("sfno", {"img_size": [8, 16], "embed_dim": 4, "n_layers": 1}).cuda()
    path = save_model(model, tmp_path / "gpu.pt")
    assert {t.device.type for t in _payload(path)["state_dict"].values()} == {"cpu"}  # stored on the CPU
    loaded, _ = load_model(path, map_location="cuda")
    assert {t.device.type for t in [*loaded.parameters(), *loaded.buffers()]} == {"cuda"}
    x = torch.randn(1, 3, 8, 16, device="cuda")
    assert torch.equal(loaded(x), model(x))


def test_format_version_written(good):
    assert _payload(good)["format"] == FORMAT_VERSION
