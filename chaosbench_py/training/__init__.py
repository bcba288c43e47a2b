"""Training of emulators: one config-driven trainer, its config, and the task kinds it learns.

* :mod:`.trainer` + :mod:`.config`: :class:`Trainer`, :func:`load_run_config`, :class:`RunConfig` — the
  one training loop of the package, used by ``chaosbench train``.
* :mod:`.tasks`: the :class:`~.tasks.Task` interface and registry (:func:`register_task`,
  :func:`get_task`), with the kinds ``next_step``, ``gtf``, ``multi_step``, ``phyxmamba``.
* :mod:`.run_dir`, :mod:`.run_log`: the run folder (never overwritten by accident, never half-written)
  and ``metrics.csv``.
* :mod:`.gtf`, :mod:`.phyxmamba`: the mathematics of generalized teacher forcing and of PhyxMamba's stages.
* :mod:`.frontends`: in-memory front ends of the trainer for notebooks (:class:`GTFTrainer`,
  :func:`train_phyxmamba`, :func:`train_neural_ode`).
* :mod:`.baselines`: closed-form reservoir fitting (:func:`fit_reservoir`).

The evaluation of reconstructions (``evaluate_dsr``) lives in :mod:`chaosbench_py.evaluation`; the data
loaders in :mod:`chaosbench_py.data` (:func:`~chaosbench_py.data.load_sequences`).
"""

from .baselines import as_trajectory_tensor, fit_reservoir
from .config import ConfigError, RunConfig, config_from_dict, config_to_dict, load_run_config
from .frontends import GTFTrainer, NeuralODETrainingResult, train_neural_ode, train_phyxmamba
from .gtf import (
    ALPHA_METHODS,
    GTFConfig,
    estimate_alpha,
    gtf_forward,
    gtf_loss,
    sparse_forcing_forward,
    update_alpha,
)
from .phyxmamba import PhyxMambaTrainConfig, phyxmamba_losses_stage1, phyxmamba_losses_stage2
from .run_log import read_metrics
from .tasks import (
    GTFTask,
    MultiStepTask,
    NextStepTask,
    PhyxMambaTask,
    Task,
    get_task,
    list_tasks,
    register_task,
)
from .trainer import Trainer

__all__ = [
    "ALPHA_METHODS",
    "ConfigError",
    "GTFConfig",
    "GTFTask",
    "GTFTrainer",
    "MultiStepTask",
    "NeuralODETrainingResult",
    "NextStepTask",
    "PhyxMambaTask",
    "PhyxMambaTrainConfig",
    "RunConfig",
    "Task",
    "Trainer",
    "as_trajectory_tensor",
    "config_from_dict",
    "config_to_dict",
    "estimate_alpha",
    "fit_reservoir",
    "get_task",
    "gtf_forward",
    "gtf_loss",
    "list_tasks",
    "load_run_config",
    "phyxmamba_losses_stage1",
    "phyxmamba_losses_stage2",
    "read_metrics",
    "register_task",
    "sparse_forcing_forward",
    "train_neural_ode",
    "train_phyxmamba",
    "update_alpha",
]
