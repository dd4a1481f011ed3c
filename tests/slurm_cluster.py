"""A throw-away single-node SLURM cluster on localhost, from Debian's packages, for the profile's test.

Known pitfalls of Debian's slurm 22.05 on these machines, each handled here: no cgroups, so
``proctrack/linuxproc`` and ``task/none``; ``select/cons_tres`` needs ``DefMemPerCPU`` or jobs run one at a
time; a GPU GRES needs a device file (``/dev/null`` stands in) or the node drains; without slurmdbd
``sacct`` fails, so the status command must be ``squeue`` and finished jobs must stay visible to it
(``MinJobAge``). The SLURM jobstep plugin strips every ``SLURM_*`` variable, SLURM_CONF too, before its
inner ``srun``, so clients find this cluster's non-default config through ``srun``/``sbatch`` wrappers put
first on PATH (a real cluster keeps its config at the default path). Job records come from slurmctld (``scontrol show job``, kept for ``MinJobAge``): without slurmdbd
neither sacct nor the job-completion log records GPU requests. Every daemon is stopped
by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")


def unavailable_reason():
    """Why a cluster cannot be started here, or None if it can (installing the packages if need be)."""
    if all(shutil.which(name) or Path("/usr/sbin", name).exists() for name in DAEMONS):
        return None
    if os.geteuid() != 0:
        return "SLURM is not installed and installing it needs root"
    if not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    result = subprocess.run(["apt-get", "install", "-y", "-q", *PACKAGES], capture_output=True, text=True,
                            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=900)
    if result.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {result.stderr.strip()[-300:]}"
    return None


def _sbin(name):
    return shutil.which(name) or str(Path("/usr/sbin", name))


class Cluster:
    """Start with ``Cluster(directory).start()``; ``env`` holds SLURM_CONF for clients; ``stop()`` ends it."""

    def __init__(self, directory, cpus=2, memory_mb=12000, min_job_age=3600):
        self.dir = Path(directory)
        self.cpus, self.memory_mb, self.min_job_age = cpus, memory_mb, min_job_age
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.pids = {}

    def _write_config(self):
        d = self.dir
        for sub in ("state", "spool", "munge"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"""\
ClusterName=transferstudy-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge/munge.socket
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge={self.min_job_age}
ReturnToService=2
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
NodeName=localhost CPUs={self.cpus} RealMemory={self.memory_mb} Gres=gpu:fake:1 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
""")
        (d / "gres.conf").write_text("NodeName=localhost Name=gpu Type=fake File=/dev/null\n")
        bin_dir = d / "bin"
        bin_dir.mkdir(exist_ok=True)
        for client in ("srun", "sbatch", "squeue", "scancel", "scontrol", "sinfo"):
            wrapper = bin_dir / client
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which(client)} "$@"\n')
            wrapper.chmod(0o755)
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{self.env.get('PATH', '')}"

    def _daemon(self, name, args, pid_file):
        subprocess.run([_sbin(name), *args], check=True, env=self.env, capture_output=True, timeout=60)
        deadline = time.time() + 30
        while time.time() < deadline:  # the daemon writes its PID file after it forks: wait for the number
            text = pid_file.read_text().strip() if pid_file.exists() else ""
            if text:
                self.pids[name] = int(text.split()[0])
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} wrote no PID to {pid_file} within 30 s; see the logs in {self.dir}")

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        self._write_config()
        socket = self.dir / "munge" / "munge.socket"
        self._daemon("munged", ["--force", "--socket", str(socket), "--pid-file", str(self.dir / "munged.pid"),
                                "--log-file", str(self.dir / "munged.log"), "--seed-file",
                                str(self.dir / "munge.seed")], self.dir / "munged.pid")
        self._daemon("slurmctld", ["-f", str(self.conf)], self.dir / "slurmctld.pid")
        self._daemon("slurmd", ["-f", str(self.conf), "-N", "localhost"], self.dir / "slurmd.pid")
        self._wait_idle()
        return self

    def _wait_idle(self, timeout=60):
        deadline = time.time() + timeout
        state = ""
        while time.time() < deadline:
            result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env)
            state = result.stdout.strip()
            if state.startswith("idle"):
                return
            time.sleep(0.5)
        logs = "\n".join(f"{name}: ...{(self.dir / name).read_text()[-600:]}" for name in
                          ("slurmctld.log", "slurmd.log") if (self.dir / name).exists())
        raise RuntimeError(f"the test cluster's node is {state or 'unreachable'}, not idle\n{logs}")

    def job_records(self):
        """slurmctld's record of every job it still holds: one dict of its KEY=VALUE fields per job."""
        result = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, env=self.env,
                                check=True)
        return [dict(field.split("=", 1) for field in line.split() if "=" in field)
                for line in result.stdout.splitlines() if line.strip()]

    def stop(self):
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
