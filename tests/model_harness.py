"""One set of reusable checks for the emulator models (imported by the model tests; not a test file).

Every check takes the model and the arguments of the call under test, runs it, and fails with a
message naming what went wrong; each returns what it computed so a test can add its own assertions.

* :func:`check_output_shapes` — the call gives outputs of the expected shapes, all finite.
* :func:`check_gradients` — a scalar loss of the outputs back-propagates a finite, non-zero gradient
  to every trainable parameter (parameters that cannot get one by design are named in ``exclude``).
* :func:`check_overfit` — Adam on one batch lowers the loss by ``factor`` within ``max_steps``.
* :func:`check_save_load` — ``save_model`` / ``load_model`` give the same class, config, dtype and
  identical outputs.
* :func:`check_bf16_autocast` — the forward under CPU bf16 autocast runs, is finite and close to fp32.
* :func:`check_roll_equivariance` — rolling the input by whole grid points along longitude rolls the
  output by the same amount (and :func:`roll_error` to show the property fails where it should).

Roll equivariance in longitude (zonal rolls by whole grid points, ``f(roll(x, s)) = roll(f(x), s)``):

========================  ==================================================================
model                     equivariant to zonal rolls?
========================  ==================================================================
FNO                       yes, any ``s`` (``positional_embedding="none"``; not with ``"grid"``)
SFNO                      yes, any ``s`` (spectral weights per degree / (degree, order)); a
                          roll in *latitude* is not a symmetry
UNet                      only with ``padding_mode="circular"`` and ``s`` a multiple of the
                          pooling stride ``2**(len(widths) - 1)``; zero padding breaks it
ResNet-CNN                no (stride-32 encoder, bilinear resize; zero padding by default)
Pangu                     only for ``s`` a multiple of ``patch_lon · 2 · window_lon`` when no
                          longitude padding is needed (windows and shifted windows line up)
Persistence               yes, trivially (the identity)
Climatology               no (a fixed field per day of year)
shPLRNN, neural ODE,      not applicable (no spatial grid: sequences ``(batch, time, dim)``)
ESN, NVAR, PhyxMamba
========================  ==================================================================

:data:`ROLL_EQUIVARIANT` states this table in code (registered model name → grid-point shift that
must commute, or ``None``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from emulators import load_model, save_model

#: Longitude shift (grid points) that commutes with the model at the small configs of the tests, or
#: ``None`` when the model is not equivariant / has no grid (see the module docstring's table).
ROLL_EQUIVARIANT: dict[str, int | None] = {
    "fno": 1,
    "sfno": 1,
    "unet": None,  # zero padding by default; circular padding + multiples of the stride: see test_gridded_baselines
    "resnet": None,
    "pangu": None,  # only for whole stage-2 windows without longitude padding: see test_pangu
    "persistence": 1,
    "climatology": None,
    "shplrnn": None,
    "neural_ode": None,
    "esn": None,
    "nvar": None,
    "phyxmamba": None,
}


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Small models run many tiny ops: one intra-op thread avoids OpenMP spin-waits on a loaded machine.

    Import it into a test module (``from model_harness import single_thread  # noqa: F401``) to use it.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------ helpers
def tensors(out: Any) -> list[torch.Tensor]:
    """The tensors of an output: a tensor, or a (nested) tuple / list of them."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in tensors(item)]
    raise TypeError(f"model output is a {type(out).__name__}, not a tensor or a tuple of tensors")


def _call(model: torch.nn.Module, args: Sequence[Any], forward: Callable | None) -> Any:
    return forward(model, *args) if forward is not None else model(*args)


def mse(out: Any, target: Any) -> torch.Tensor:
    """Mean squared error summed over the output tensors."""
    return sum((a - b).pow(2).mean() for a, b in zip(tensors(out), tensors(target)))


def relative_error(a: Any, b: Any) -> float:
    """``‖a − b‖ / ‖b‖`` over all output tensors together (float64)."""
    num = sum(float((x.double() - y.double()).pow(2).sum()) for x, y in zip(tensors(a), tensors(b)))
    den = sum(float(y.double().pow(2).sum()) for y in tensors(b))
    return math.sqrt(num / den)


# ------------------------------------------------------------------------------------------- checks
def check_output_shapes(
    model: torch.nn.Module,
    args: Sequence[Any],
    shapes: Sequence[tuple[int, ...]] | tuple[int, ...],
    forward: Callable | None = None,
) -> Any:
    """Call the model on ``args``; its output tensor(s) must have ``shapes`` and be finite. Returns the output."""
    out = _call(model, args, forward)
    got = [tuple(t.shape) for t in tensors(out)]
    want = [tuple(shapes)] if shapes and isinstance(shapes[0], int) else [tuple(s) for s in shapes]
    assert got == want, f"{type(model).__name__}: output shapes {got}, expected {want}"
    for i, t in enumerate(tensors(out)):
        assert torch.isfinite(t).all(), f"{type(model).__name__}: output {i} has non-finite values"
    return out


def check_gradients(
    model: torch.nn.Module,
    args: Sequence[Any],
    forward: Callable | None = None,
    loss: Callable[[Any], torch.Tensor] | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, torch.Tensor]:
    """Back-propagate ``loss(output)`` (default: mean of squares) and require a finite, non-zero gradient
    on every trainable parameter whose name does not start with an entry of ``exclude``.

    Returns ``{name: grad}`` of the checked parameters.
    """
    model.zero_grad(set_to_none=True)
    out = _call(model, args, forward)
    value = loss(out) if loss is not None else sum(t.pow(2).mean() for t in tensors(out))
    value.backward()
    checked, bad = {}, []
    for name, p in model.named_parameters():
        if not p.requires_grad or any(name.startswith(e) for e in exclude):
            continue
        if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0:
            bad.append(name)
        else:
            checked[name] = p.grad
    assert checked, f"{type(model).__name__}: no trainable parameter was checked"
    assert not bad, f"{type(model).__name__}: parameters without a finite non-zero gradient: {bad}"
    return checked


def check_overfit(
    model: torch.nn.Module,
    args: Sequence[Any],
    target: Any,
    max_steps: int,
    factor: float = 10.0,
    lr: float = 1e-2,
    forward: Callable | None = None,
    min_steps: int = 0,
) -> tuple[float, float, int]:
    """Adam (``lr``) on ``mse(output, target)`` for one fixed batch until the loss has fallen by
    ``factor`` (after at least ``min_steps``) or ``max_steps`` passed; the fall must be reached.

    Returns ``(first loss, last loss, steps taken)``.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = last = None
    for step in range(max_steps):
        opt.zero_grad()
        value = mse(_call(model, args, forward), target)
        last = value.item()
        first = last if first is None else first
        if step >= min_steps and last < first / factor:
            break
        value.backward()
        opt.step()
    assert last < first / factor, (
        f"{type(model).__name__}: loss {first:.3g} → {last:.3g} in {max_steps} steps, not {factor:g}x lower"
    )
    return first, last, step


def check_save_load(
    model: torch.nn.Module,
    args: Sequence[Any],
    tmp_path: Path,
    forward: Callable | None = None,
    extra: dict | None = None,
    name: str = "model.pt",
) -> tuple[torch.nn.Module, dict]:
    """``save_model`` then ``load_model``: same class, registry name, config, parameter dtypes and
    bit-identical outputs on ``args`` (both in eval mode, no grad). Returns ``(loaded, extra)``."""
    path = save_model(model, Path(tmp_path) / name, extra=extra)
    loaded, got_extra = load_model(path)
    assert type(loaded) is type(model) and loaded.model_name == model.model_name
    assert loaded.config == model.config, (loaded.config, model.config)
    if extra is not None:
        assert got_extra == extra
    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    assert {k: v.dtype for k, v in loaded.state_dict().items()} == dtypes
    model.eval()
    loaded.eval()
    with torch.no_grad():
        a, b = _call(model, args, forward), _call(loaded, args, forward)
    for x, y in zip(tensors(a), tensors(b)):
        assert torch.equal(x, y), f"{type(model).__name__}: outputs differ after save/load"
    return loaded, got_extra


def check_bf16_autocast(
    model: torch.nn.Module, args: Sequence[Any], forward: Callable | None = None, rtol: float = 0.05
) -> tuple[Any, Any]:
    """The forward under ``torch.autocast("cpu", dtype=torch.bfloat16)`` gives outputs of the fp32
    shapes, finite, within relative L2 error ``rtol`` of the fp32 outputs. Returns ``(bf16, fp32)``."""
    with torch.no_grad():
        ref = _call(model, args, forward)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = _call(model, args, forward)
    assert [t.shape for t in tensors(out)] == [t.shape for t in tensors(ref)]
    assert all(torch.isfinite(t.float()).all() for t in tensors(out)), "non-finite bf16 output"
    err = relative_error(out, ref)
    assert err < rtol, f"{type(model).__name__}: bf16 relative error {err:.3g} >= {rtol}"
    return out, ref


def roll_error(
    model: torch.nn.Module, x: torch.Tensor | Sequence[torch.Tensor], shift: int, dim: int = -1
) -> float:
    """``max |f(roll(x, shift)) − roll(f(x), shift)|`` along ``dim`` (inputs and outputs rolled alike)."""
    xs = [x] if isinstance(x, torch.Tensor) else list(x)
    with torch.no_grad():
        out = tensors(model(*xs))
        out_rolled = tensors(model(*(t.roll(shift, dim) for t in xs)))
    return max(float((a - b.roll(shift, dim)).abs().max()) for a, b in zip(out_rolled, out))


def check_roll_equivariance(
    model: torch.nn.Module,
    x: torch.Tensor | Sequence[torch.Tensor],
    shifts: Sequence[int],
    atol: float,
    dim: int = -1,
) -> None:
    """``f(roll(x, s)) == roll(f(x), s)`` to ``atol`` for every ``s`` in ``shifts`` (longitude: ``dim=-1``)."""
    for s in shifts:
        err = roll_error(model, x, s, dim)
        assert err <= atol, f"{type(model).__name__}: roll by {s} along dim {dim}: error {err:.3g} > {atol:g}"
