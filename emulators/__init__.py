"""emulators: neural-network models of dynamics (torch only; no data or metric code).

Every model is an ``nn.Module`` built from a config dataclass and registered by name
(:func:`register_model`); :func:`build_model` builds any of them from ``(name, config)`` and
:func:`save_model` / :func:`load_model` round-trip them (``weights_only=True``; an existing file is
replaced only with ``overwrite=True``; a file that is not a usable checkpoint is a
:class:`CheckpointError` naming it and what is wrong). Importing this package imports (and so
registers) every model. Bad configs and tensors raise :class:`EmulatorInputError` (a ``ValueError``)
naming the key or the expected and actual shapes.

* Low-dimensional chaos: :class:`ShPLRNN` (shallow / clipped PLRNN, analytic Jacobian), :class:`NeuralODE`, :class:`EchoStateNetwork`, :class:`NVAR`,
  :class:`PhyxMamba` on the pure-torch Mamba-2 block :class:`Mamba2` (``mamba_ssm`` kernels on CUDA
  when importable).
* Gridded weather: :class:`PanguModel` (3D Earth-specific transformer), :class:`FNO`,
  :class:`SphericalFourierNeuralOperator`, baselines :class:`Persistence`, :class:`Climatology`,
  :class:`UNet`, :class:`ResNetCNN`; lead-time composition: :func:`plan_lead`,
  :func:`rollout_hierarchical`.
"""

from .aggregation import plan_lead, rollout_hierarchical
from .baselines import (
    Climatology,
    ClimatologyConfig,
    Persistence,
    PersistenceConfig,
    ResNetCNN,
    ResNetConfig,
    UNet,
    UNetConfig,
)
from .checkpoint import load_model, load_state_dict_checked, read_checkpoint, save_model
from .errors import CheckpointError, EmulatorInputError, EmulatorOutputExistsError, NotFittedError
from .fno import FNO, FNOConfig, SpectralConv
from .neural_ode import NeuralODE, NeuralODEConfig
from .pangu import PanguConfig, PanguModel, pangu_preset
from .phyxmamba import PhyxMamba, PhyxMambaConfig, delay_embed_causal, phyxmamba_preset
from .plrnn import ShPLRNN, ShPLRNNConfig, normalized_positive_definite_diagonal
from .registry import (
    build_model,
    list_models,
    make_config,
    model_config_class,
    model_config_dict,
    register_model,
)
from .reservoir import NVAR, EchoStateNetwork, ESNConfig, NVARConfig, ridge_regression
from .sfno import SFNOConfig, SphericalFourierNeuralOperator
from .ssm import Mamba2, MambaConfig, reference_scan, ssd_chunked_scan, ssd_step, ssm_backend
from .stepping import gridded_step

__all__ = [
    "CheckpointError",
    "EmulatorInputError",
    "EmulatorOutputExistsError",
    "NotFittedError",
    "load_state_dict_checked",
    "read_checkpoint",
    "ShPLRNN",
    "ShPLRNNConfig",
    "normalized_positive_definite_diagonal",
    "Mamba2",
    "MambaConfig",
    "PhyxMamba",
    "PhyxMambaConfig",
    "delay_embed_causal",
    "phyxmamba_preset",
    "reference_scan",
    "ssd_chunked_scan",
    "ssd_step",
    "ssm_backend",
    "FNO",
    "Climatology",
    "ClimatologyConfig",
    "FNOConfig",
    "Persistence",
    "PersistenceConfig",
    "ResNetCNN",
    "ResNetConfig",
    "SFNOConfig",
    "SpectralConv",
    "SphericalFourierNeuralOperator",
    "UNet",
    "UNetConfig",
    "NVAR",
    "ESNConfig",
    "EchoStateNetwork",
    "NVARConfig",
    "NeuralODE",
    "NeuralODEConfig",
    "PanguConfig",
    "PanguModel",
    "build_model",
    "list_models",
    "load_model",
    "make_config",
    "gridded_step",
    "model_config_class",
    "model_config_dict",
    "pangu_preset",
    "plan_lead",
    "register_model",
    "ridge_regression",
    "rollout_hierarchical",
    "save_model",
]
