"""``residual: true`` with constant input channels (orography after the state): the model predicts the
increment of the state, the first ``out_channels`` inputs — for FNO, SFNO, UNet and ResNet alike."""

from __future__ import annotations

import pytest
import torch

import emulators
from emulators.errors import EmulatorInputError

CONFIGS = {
    "fno": {"n_modes": [4, 8], "hidden_channels": 8, "n_layers": 2},
    "sfno": {"img_size": [16, 32], "grid": "legendre-gauss", "embed_dim": 8, "n_layers": 2},
    "unet": {"widths": [8, 16]},
    "resnet": {},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_zero_network_is_the_identity_on_the_state(name):
    torch.manual_seed(0)
    cfg = {**CONFIGS[name], "in_channels": 4, "out_channels": 3, "residual": True}
    if name not in emulators.list_models():
        pytest.skip(f"{name} not registered")
    model = emulators.build_model(name, cfg)
    x = torch.randn(2, 4, 16, 32)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        y = model(x)
    torch.testing.assert_close(y, x[:, :3])  # out = f(x) + state, f ≡ 0 with every weight and bias 0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_more_outputs_than_inputs_is_refused(name):
    if name not in emulators.list_models():
        pytest.skip(f"{name} not registered")
    with pytest.raises(EmulatorInputError, match="out_channels <= in_channels"):
        emulators.build_model(name, {**CONFIGS[name], "in_channels": 3, "out_channels": 4, "residual": True})
