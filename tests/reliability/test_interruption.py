"""Kill `diffbt fit` with SIGKILL mid-training: --resume ends with the same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

ARGS = ["fit", "sp500_nasdaq", "--train-end", "2003-12-31", "--window", "16", "--steps",
        "200", "--seed", "3", "--device", "cpu"]


def _fit(out, *extra, wait=True):
    cmd = [sys.executable, "-c", "from diffbt.cli import main; main()", *ARGS, "--out",
           str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if wait:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
    return proc


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_fit_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    full = tmp_path / "full.safetensors"
    _fit(full)

    killed = tmp_path / "killed.safetensors"
    ckpt = tmp_path / "killed.safetensors.train"
    proc = _fit(killed, wait=False)
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # let it train past the first checkpoint
    if proc.poll() is not None:
        pytest.skip("fit finished before it could be killed (machine too fast)")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert ckpt.exists() and not killed.exists()  # no complete-looking model file

    _fit(killed, "--resume")
    a, b = load_file(str(full)), load_file(str(killed))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sample_killed_mid_run_leaves_no_complete_looking_file(tmp_path):
    model = tmp_path / "m.safetensors"
    proc = subprocess.run([sys.executable, "-c", "from diffbt.cli import main; main()",
                           "fit", "sp500_nasdaq", "--window", "16", "--steps", "3", "--out",
                           str(model)], capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = tmp_path / "paths.npz"
    proc = subprocess.Popen([sys.executable, "-c", "from diffbt.cli import main; main()",
                             "sample", str(model), "--paths", "20000", "--length", "400",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".paths.npz.*")) and time.time() < deadline:
        time.sleep(0.05)  # wait until the temporary file is being written
    time.sleep(0.5)
    assert proc.poll() is None, "sampling finished too fast to interrupt"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not out.exists()
