#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill build` on an already-built skill crate
against `cargo build --release --target wasm32-wasip1` of the same crate,
both no-ops (each keeps its own target directory, built once beforehand).
Runs are interleaved; the report gives medians and the overhead.

`--names`: what keeping the function names costs a cold build (issue #34:
under 5%). `build` links the skill crate with `-C strip=none` (`cargo build
--lib ...` with `-C strip=none` last in `CARGO_ENCODED_RUSTFLAGS`) and
strips the artifact's module from those bytes itself; this times that
cargo command against the `cargo build` a
`strip = true` profile runs, on fixtures/skills/budget (serde_json, LTO,
`opt-level = "s"`), each run in a fresh target directory (nothing compiled
before; the registry's sources are), interleaved. Stripping the sections
from the module afterwards copies under a megabyte in memory and is not
timed here.

Usage: python3 bench/build.py [--runs N]           (from the repository root)
       python3 bench/build.py --names [--runs N]   (default 5 runs: each is a cold build)
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int)
    parser.add_argument("--names", action="store_true")
    args = parser.parse_args()
    if args.names:
        return names(args.runs or 5)
    args.runs = args.runs or 15
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "cargo-palyra-skill")
    with tempfile.TemporaryDirectory() as tmp:
        crate = os.path.join(tmp, "echo")
        shutil.copytree(os.path.join(ROOT, "fixtures", "skills", "echo"), crate, ignore=shutil.ignore_patterns("target"))
        manifest = os.path.join(crate, "Cargo.toml")
        env = {**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX}
        commands = {
            "palyra-skill build": [binary, "-q", "build", "--locked", "--manifest-path", manifest,
                                   "--target-dir", os.path.join(tmp, "t1"), "--out", os.path.join(tmp, "out")],
            "cargo build": ["cargo", "build", "-q", "--locked", "--release", "--target", "wasm32-wasip1",
                            "--manifest-path", manifest, "--target-dir", os.path.join(tmp, "t2")],
        }
        for command in commands.values():  # the real builds, then one no-op each
            subprocess.run(command, check=True, env=env)
            subprocess.run(command, check=True, env=env)
        times = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, check=True, env=env)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"no-op builds of fixtures/skills/echo; {args.runs} interleaved runs, {os.cpu_count()} cores")
    for name, median in medians.items():
        print(f"  {name:<20} median {median * 1000:7.1f} ms   min {min(times[name]) * 1000:7.1f} ms")
    print(f"  overhead = {(medians['palyra-skill build'] - medians['cargo build']) * 1000:.1f} ms")


def names(runs):
    manifest = os.path.join(ROOT, "fixtures", "skills", "budget", "Cargo.toml")
    common = ["--locked", "--release", "--target", "wasm32-unknown-unknown", "--manifest-path", manifest]
    commands = {
        "strip = true (cargo build)": lambda target: ["cargo", "build", "-q", *common, "--target-dir", target],
        "names kept (-C strip=none)": lambda target: [
            "cargo", "build", "-q", "--lib", *common, "--target-dir", target,
        ],
    }
    envs = {"names kept (-C strip=none)": {**os.environ, "CARGO_ENCODED_RUSTFLAGS": "-C\x1fstrip=none"}}
    times = {name: [] for name in commands}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            # Each goes first in every other run: no order bias.
            order = list(commands.items())
            for name, command in order if run % 2 == 0 else reversed(order):
                target = os.path.join(tmp, f"target-{run}")
                start = time.perf_counter()
                subprocess.run(command(target), check=True, env=envs.get(name))
                times[name].append(time.perf_counter() - start)
                shutil.rmtree(target)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"cold builds of fixtures/skills/budget; {runs} interleaved runs, {os.cpu_count()} cores")
    for name, median in medians.items():
        print(f"  {name:<28} median {median:6.2f} s   min {min(times[name]):6.2f} s   max {max(times[name]):6.2f} s")
    base, named = medians["strip = true (cargo build)"], medians["names kept (-C strip=none)"]
    print(f"  overhead of keeping names = {named - base:+.2f} s ({(named - base) * 100 / base:+.1f}% of the cold build)")


if __name__ == "__main__":
    main()
