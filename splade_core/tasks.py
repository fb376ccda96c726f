"""Whether this process is one of several started together: by a process-group launcher
(torchrun, `splade_core.train.launch`: WORLD_SIZE), by SLURM's srun (per job step; a batch
script itself sets none) or by mpirun (Open MPI, PMI). Training joins a process group only
through WORLD_SIZE; every other stage runs as one process."""

from __future__ import annotations

import os

GROUP_VARIABLE = "WORLD_SIZE"
TASK_VARIABLES = ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def sibling_tasks(variables: tuple[str, ...] = (GROUP_VARIABLE, *TASK_VARIABLES)) -> tuple[str, int] | None:
    """(variable, N) of the first of `variables` saying this process is one of N > 1, or None."""
    for variable in variables:
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 1:
            return variable, int(value)
    return None
