#!/usr/bin/env python3
"""Benchmark: several skills in one workspace (issue #36).

A copy of fixtures/workspaces/trio with a third skill member (`gamma`, a
copy of `beta`), so three skills and one plain library:

- cold: `build --workspace` (one cargo build) against three separate
  `build -p NAME` one after another, each in a fresh target directory;
- warm: the same once everything is built (no-ops);
- alternating: `build -p acme-alpha`, `build -p acme-beta`, ... in one
  shared target directory, each after the other member's build: with the
  same rustflags for every member, each is a no-op. For contrast, two
  crates of different workspaces (fixtures/skills/guard and budget) in
  one shared target directory, which remap different roots and so rebuild
  each other's dependencies.

Runs are interleaved; the report gives medians. The binary is the debug
build (`cargo build`), as the suite uses it; cargo's own work dominates
every figure but the no-ops. A cold run compiles serde_json and its
dependencies from the registry's sources (already downloaded).

Usage: python3 bench/workspace.py [--cold-runs N] [--runs N]   (from the repository root)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key
MEMBERS = ["acme-alpha", "acme-beta", "acme-gamma"]


def workspace(tmp):
    """The trio workspace with a third skill, `gamma`, copied from `beta`."""
    root = os.path.join(tmp, "trio")
    shutil.copytree(os.path.join(ROOT, "fixtures", "workspaces", "trio"), root)
    gamma = os.path.join(root, "skills", "gamma")
    shutil.copytree(os.path.join(root, "skills", "beta"), gamma)
    for rel in ["Cargo.toml", "skill.toml"]:
        path = os.path.join(gamma, rel)
        with open(path) as f:
            text = f.read().replace("acme-beta", "acme-gamma").replace("acme.beta", "acme.gamma")
            text = text.replace("acme_beta", "acme_gamma").replace('"Beta"', '"Gamma"')
        with open(path, "w") as f:
            f.write(text)
    cargo_toml = os.path.join(root, "Cargo.toml")
    with open(cargo_toml) as f:
        text = f.read().replace('"skills/beta",', '"skills/beta",\n    "skills/gamma",')
    with open(cargo_toml, "w") as f:
        f.write(text)
    # The lock file gains the new member; nothing is fetched.
    subprocess.run(["cargo", "generate-lockfile", "--offline", "-q"], cwd=root, check=True)
    return root


def timed(command, env, cwd=None):
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed, done.stderr


def report(title, times, unit="s"):
    print(title)
    for name, t in times.items():
        scale, fmt = (1, "6.2f") if unit == "s" else (1000, "7.1f")
        print(f"  {name:<44} median {statistics.median(t) * scale:{fmt}} {unit}   "
              f"min {min(t) * scale:{fmt}}   max {max(t) * scale:{fmt}}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "debug", "cargo-palyra-skill")
    with tempfile.TemporaryDirectory() as tmp:
        root = workspace(tmp)
        env = {**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX,
               "PALYRA_SKILL_CONFIG_DIR": os.path.join(tmp, "config")}

        def build(target, *selection):
            return [binary, "-q", "build", "--locked", "--target-dir", target, *selection]

        def workspace_build(target):
            return timed(build(target, "--workspace"), env, root)[0]

        def separate_builds(target):
            return sum(timed(build(target, "-p", m), env, root)[0] for m in MEMBERS)

        kinds = {"build --workspace (one cargo build)": workspace_build,
                 "3 x build -p NAME (one after another)": separate_builds}
        cold = {name: [] for name in kinds}
        for run in range(args.cold_runs):
            order = list(kinds.items())
            for name, measure in order if run % 2 == 0 else reversed(order):
                target = os.path.join(tmp, f"cold-{run}-{len(cold[name])}")
                cold[name].append(measure(target))
                shutil.rmtree(target)
        warm_target = os.path.join(tmp, "warm")
        workspace_build(warm_target)
        warm = {name: [] for name in kinds}
        for run in range(args.runs):
            for name, measure in kinds.items():
                warm[name].append(measure(warm_target))

        alternating = {"members of one workspace, one target dir": [],
                       "crates of two workspaces, one target dir": []}
        compiled = {name: 0 for name in alternating}
        for run in range(args.runs):
            for member in MEMBERS[:2]:
                elapsed, stderr = timed(
                    [binary, "build", "--locked", "--target-dir", warm_target, "-p", member], env, root)
                alternating["members of one workspace, one target dir"].append(elapsed)
                compiled["members of one workspace, one target dir"] += stderr.count("Compiling ")
        shared = os.path.join(tmp, "two-workspaces")
        crates = []
        for name in ["guard", "budget"]:
            crate = os.path.join(tmp, name)
            shutil.copytree(os.path.join(ROOT, "fixtures", "skills", name), crate)
            crates.append(os.path.join(crate, "Cargo.toml"))
            timed([binary, "-q", "build", "--locked", "--target-dir", shared, "--manifest-path", crates[-1]], env)
        for run in range(min(args.runs, 5)):
            for manifest in crates:
                elapsed, stderr = timed(
                    [binary, "build", "--locked", "--target-dir", shared, "--manifest-path", manifest], env)
                alternating["crates of two workspaces, one target dir"].append(elapsed)
                compiled["crates of two workspaces, one target dir"] += stderr.count("Compiling ")

    print(f"fixtures/workspaces/trio + a third skill; {os.cpu_count()} cores")
    report(f"cold, fresh target dir ({args.cold_runs} interleaved runs)", cold)
    report(f"warm, no-op ({args.runs} runs)", warm, "ms")
    report("alternating builds, each after the other's", alternating, "ms")
    for name, count in compiled.items():
        print(f"  {name:<44} `Compiling` lines in all: {count}")


if __name__ == "__main__":
    main()
