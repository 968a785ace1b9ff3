"""Training past one device: the run's processes started by torchrun or `accelerate launch`,
each one rank of a DDP or FSDP run over the same prepared data.

The `gristmill train` process prepares the data and registers the model as for a one-process
run, writes the job to the run's folder, launches, and records the result rank 0 leaves there.
Other nodes of a multi-node run start the same worker on the same job file
(`python -m gristmill.train.launch JOB`, under torchrun with the same rendezvous).
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from gristmill.errors import GristmillError, UsageError

if TYPE_CHECKING:
    from gristmill.train.fit import Job

LAUNCHERS = ("torchrun", "accelerate")
STRATEGIES = ("ddp", "fsdp")


@dataclass(frozen=True)
class Launch:
    launcher: str
    nproc: int  # processes on this node
    strategy: str = "ddp"
    nnodes: int = 1
    node_rank: int = 0
    master: str = "127.0.0.1:29500"  # host:port of node 0's rendezvous

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise UsageError(f"--launcher is one of {', '.join(LAUNCHERS)}")
        if self.strategy not in STRATEGIES:
            raise UsageError(f"--strategy is one of {', '.join(STRATEGIES)}")
        if self.nproc < 1 or self.nnodes < 1 or not 0 <= self.node_rank < self.nnodes:
            raise UsageError("--nproc and --nnodes are positive, --node-rank below --nnodes")
        if ":" not in self.master:
            raise UsageError("--master is HOST:PORT")

    def command(self, job_file: Path) -> list[str]:
        host, port = self.master.rsplit(":", 1)
        worker = ["-m", "gristmill.train.launch", str(job_file)]
        if self.launcher == "torchrun":
            return [_tool("torchrun"), f"--nproc-per-node={self.nproc}", f"--nnodes={self.nnodes}",
                    f"--node-rank={self.node_rank}", f"--master-addr={host}",
                    f"--master-port={port}", *worker]
        return [_tool("accelerate"), "launch", f"--num_processes={self.nproc * self.nnodes}",
                f"--num_machines={self.nnodes}", f"--machine_rank={self.node_rank}",
                f"--main_process_ip={host}", f"--main_process_port={port}",
                "--multi_gpu", "--module", *worker[1:]]

    def run(self, job: Job) -> dict:
        """Launch and wait; rank 0's result (status, adapter, metrics, curves, error)."""
        folder = job.out / "launch"
        folder.mkdir(parents=True, exist_ok=True)
        result = folder / "result.json"
        result.unlink(missing_ok=True)
        job_file = folder / "job.pkl"
        job_file.write_bytes(pickle.dumps(job))
        env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        done = subprocess.run(self.command(job_file), env=env)
        if not result.exists():
            raise GristmillError(f"{self.launcher} exited with {done.returncode} and rank 0 left "
                                 f"no result in {folder}")
        return orjson.loads(result.read_bytes())


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise GristmillError(f"--launcher {name}: `{name}` is not installed beside this Python")
    return found


def worker(job_file: Path) -> int:
    """One launched process: train its rank; rank 0 writes the result file, even on failure."""
    from gristmill.train.fit import fit
    from gristmill.train.recorder import Recorder

    job: Job = pickle.loads(job_file.read_bytes())
    recorder = Recorder()
    status, adapter, error = "failed", None, None
    try:
        status, adapter = fit(job, recorder, [])
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        if int(os.environ.get("RANK", "0")) == 0:
            (job_file.parent / "result.json").write_bytes(orjson.dumps({
                "status": status, "adapter": str(adapter) if adapter else None, "error": error,
                "metrics": recorder.metrics() | {"world_size": recorder.world_size,
                                                 "wrapper": recorder.wrapper},
                "curves": {"train": recorder.train, "eval": recorder.eval}}))
    return 0


if __name__ == "__main__":
    sys.exit(worker(Path(sys.argv[1])))
