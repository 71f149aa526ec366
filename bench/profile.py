#!/usr/bin/env python3
"""Benchmark: what a fuel profile costs. `cargo palyra-skill run` of the
`guard` and `budget` fixture skills (host ABI v1), warm (compiled code in
the cache), with and without `--fuel-profile`, one run of each variant per
round, interleaved.

Each skill runs twice: from its artifact (a stripped module, run as is)
and from its crate (already built, so cargo only checks it is fresh; a
profile builds and runs the copy that keeps function names). A profiled
run chooses its sample interval from an unprofiled call first, so it calls
the module twice.

Target: a profiled run costs at most 3x an unprofiled warm run.

Usage: python3 bench/profile.py [--runs N] [--binary PATH]   (from the repository root)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from _venv import tool_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key
TARGET = 3.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--binary", help="benchmark this cargo-palyra-skill binary instead of building target/release")
    args = parser.parse_args()
    ours = tool_binary(args.binary)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX, "PALYRA_SKILL_CACHE_DIR": os.path.join(tmp, "cache")}
        env.pop("CARGO_TARGET_DIR", None)  # each crate its own target/: see the note in docs/development.md
        variants = {}
        for name, extra in [("guard", ["--allow-http", "api.example.com"]), ("budget", ["--fuel", "10000000"])]:
            crate = os.path.join(tmp, name)
            shutil.copytree(os.path.join(ROOT, "fixtures", "skills", name), crate)
            out = os.path.join(tmp, "out-" + name)
            subprocess.run([ours, "-q", "build", "--manifest-path", os.path.join(crate, "Cargo.toml"), "--out", out],
                           check=True, env=env)
            artifact = os.path.join(out, [f for f in os.listdir(out) if f.endswith(".palyra-skill")][0])
            svg = os.path.join(tmp, name + ".svg")
            for target, label in [(artifact, "artifact"), (crate, "crate")]:
                run = [ours, "-q", "run", target] + extra
                variants[f"{name} {label}"] = run
                variants[f"{name} {label}, profiled"] = run + ["--fuel-profile", svg]
        for name, command in variants.items():  # fill the caches and build the named copies; each must run
            result = subprocess.run(command, check=False, env=env, capture_output=True)
            if result.returncode != 0:
                raise SystemExit(f"{name} failed: {result.stderr.decode()}")
        times = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, command in variants.items():
                started = time.perf_counter()
                subprocess.run(command, check=True, env=env, capture_output=True)
                times[name].append((time.perf_counter() - started) * 1000)
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(f"median of {args.runs} runs, warm cache")
        worst = 0.0
        for name, median in medians.items():
            line = f"  {name:<32} {median:8.1f} ms"
            if name.endswith(", profiled"):
                ratio = median / medians[name[: -len(", profiled")]]
                worst = max(worst, ratio)
                line += f"   {ratio:.2f}x unprofiled"
            print(line)
        verdict = "met" if worst <= TARGET else "MISSED"
        print(f"worst profiled/unprofiled: {worst:.2f}x (target <= {TARGET:.1f}x: {verdict})")


if __name__ == "__main__":
    main()
