"""What the generic trainer learns: the :class:`Task` interface, its registry, and one module per task kind.

* :mod:`.base`: :class:`Task` (every hook, as no-ops), :func:`register_task`, :func:`get_task`,
  :func:`list_tasks`, :func:`build_task`.
* :mod:`.next_step`: ``next_step`` — gridded emulators, multi-step autoregressive, area-weighted.
* :mod:`.gtf`: ``gtf`` — shPLRNN with generalized teacher forcing.
* :mod:`.multi_step`: ``multi_step`` — multiple shooting (neural ODE).
* :mod:`.phyxmamba`: ``phyxmamba`` — PhyxMamba's two stages.
* :mod:`.sequence`: :class:`SequenceTask`, the data handling of the trajectory kinds.
"""

from .base import Task, build_task, get_task, list_tasks, model_config_fields, register_task
from .gtf import GTF_KEYS, GTFTask
from .multi_step import MultiStepTask
from .next_step import NextStepTask
from .phyxmamba import PHYXMAMBA_STAGE_KEYS, PhyxMambaTask
from .sequence import SequenceTask

__all__ = [
    "GTF_KEYS",
    "GTFTask",
    "MultiStepTask",
    "NextStepTask",
    "PHYXMAMBA_STAGE_KEYS",
    "PhyxMambaTask",
    "SequenceTask",
    "Task",
    "build_task",
    "get_task",
    "list_tasks",
    "model_config_fields",
    "register_task",
]
