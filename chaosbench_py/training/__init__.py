"""Training and evaluation of emulators.

* :mod:`.trainer` + :mod:`.config` + :mod:`.tasks`: the one config-driven trainer for every emulator
  (:class:`Trainer`, :func:`load_run_config`, :class:`RunConfig`; tasks ``next_step``, ``gtf``,
  ``multi_step``), used by ``chaosbench train``.

* :mod:`.gtf`: shPLRNN with generalized teacher forcing (:class:`GTFTrainer`, resumable checkpoints).
* :mod:`.dsr_evaluation`: the GTF paper's evaluation protocol (:func:`evaluate_dsr`).
* :mod:`.baselines`: reservoir fitting and neural-ODE training.
* :mod:`.phyxmamba`: PhyxMamba's two training stages.
"""

from .baselines import NeuralODETrainingResult, as_trajectory_tensor, fit_reservoir, train_neural_ode
from .config import ConfigError, RunConfig, config_from_dict, config_to_dict, load_run_config
from .dsr_evaluation import DSREvaluation, evaluate_dsr, free_run, n_step_predictions
from .gtf import (
    ALPHA_METHODS,
    GTFConfig,
    GTFTrainer,
    estimate_alpha,
    gtf_forward,
    gtf_loss,
    load_sequences,
    sparse_forcing_forward,
    update_alpha,
)
from .phyxmamba import PhyxMambaTrainConfig, phyxmamba_losses_stage2, train_phyxmamba
from .phyxmamba_task import PhyxMambaTask
from .run_log import read_metrics
from .trainer import Trainer

__all__ = [
    "ConfigError",
    "PhyxMambaTask",
    "RunConfig",
    "Trainer",
    "config_from_dict",
    "config_to_dict",
    "load_run_config",
    "read_metrics",
    "NeuralODETrainingResult",
    "PhyxMambaTrainConfig",
    "as_trajectory_tensor",
    "fit_reservoir",
    "phyxmamba_losses_stage2",
    "train_neural_ode",
    "train_phyxmamba",
    "ALPHA_METHODS",
    "DSREvaluation",
    "GTFConfig",
    "GTFTrainer",
    "estimate_alpha",
    "evaluate_dsr",
    "free_run",
    "gtf_forward",
    "gtf_loss",
    "load_sequences",
    "n_step_predictions",
    "sparse_forcing_forward",
    "update_alpha",
]
