#!/usr/bin/env python3
"""Runs the BENCHMARKS.md matrix with `holdfast bench --json` and prints Markdown tables.

Every run starts a fresh server on a fresh database: SQLite in a temporary directory, PostgreSQL
in a database created for the run (on 127.0.0.1:5432, user postgres) and dropped after it.
localstripe runs through scripts/localstripe.sh (a throwaway virtualenv, bound to 127.0.0.1).

    cargo build --release -p holdfast
    python3 scripts/bench_matrix.py                    # flows and scaling, both backends
    python3 scripts/bench_matrix.py --only localstripe # the side-by-side run
    python3 scripts/bench_matrix.py --only million     # empty vs 1,000,000 intents (slow)

Options: --duration 10s, --binary target/release/holdfast, --pg postgres://postgres@127.0.0.1:5432.
"""

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def psql(pg, sql):
    subprocess.run(["psql", f"{pg}/postgres", "-qc", sql], check=True, capture_output=True)


def bench(binary, args, pg=None):
    """One `holdfast bench --json` run; answers its report (a dict)."""
    command = [binary, "bench", "--json", *args]
    database = None
    if pg is not None:
        database = "hb_" + secrets.token_hex(4)
        psql(pg, f"CREATE DATABASE {database}")
        command += ["--spawn", "--database-url", f"{pg}/{database}"]
    elif "--url" not in args:
        command += ["--spawn"]
    try:
        out = subprocess.run(command, check=True, capture_output=True, text=True)
    finally:
        if database:
            psql(pg, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label, backend, report):
    latency = report["latency_ms"]
    cpu = report.get("server_cpu_us_per_flow")
    rss = report.get("server_peak_rss_mb")
    errors = sum(report["errors"].values())
    steal = report.get("machine_steal_pct")
    threads = report.get("server_cpu_us_per_flow_by_thread") or {}
    by_thread = ", ".join(f"{name} {us:,.0f}" for name, us in sorted(threads.items(), key=lambda t: -t[1]))
    return (
        f"| {label} | {backend} | {report['flow']} | {report['concurrency']} "
        f"| {report['flows_per_s']:,.0f} | {report['requests_per_s']:,.0f} "
        f"| {latency['p50']:.2f} | {latency['p99']:.2f} | {latency['max']:.1f} "
        f"| {'—' if cpu is None else f'{cpu:,.0f} µs'} "
        f"| {'—' if rss is None else f'{rss:.0f} MiB'} | {errors} "
        f"| {'—' if steal is None else f'{steal:.0f} %'} | {by_thread or '—'} |"
    )


HEADER = (
    "| server | backend | flow | concurrency | flows/s | requests/s | p50 ms | p99 ms | max ms "
    "| server CPU per flow | peak RSS | errors | CPU stolen | server CPU per flow by thread (µs) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def localstripe(binary, duration):
    port = "18421"
    server = subprocess.Popen(
        [os.path.join(ROOT, "scripts", "localstripe.sh"), port],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pid = None
        for _ in range(600):
            time.sleep(0.5)
            listening = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
            found = re.search(r"pid=(\d+)", listening)
            if found:
                pid = found.group(1)
                break
        if pid is None:
            sys.exit("localstripe did not start")
        rows = []
        for concurrency in ["1", "8"]:
            report = bench(binary, ["--url", f"http://127.0.0.1:{port}", "--key", "sk_test_12345",
                                    "--target", "localstripe", "--server-pid", pid,
                                    "--concurrency", concurrency, "--duration", duration])
            rows.append(row("localstripe 1.15.10", "in memory", report))
            report = bench(binary, ["--concurrency", concurrency, "--duration", duration])
            rows.append(row("Holdfast", "SQLite", report))
        return rows
    finally:
        os.killpg(server.pid, signal.SIGTERM)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "holdfast"))
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--only", choices=["flows", "scaling", "localstripe", "million"])
    parser.add_argument("--backends", default="sqlite,postgres", help="for --only million")
    args = parser.parse_args()
    b, d = args.binary, args.duration
    sections = [args.only] if args.only else ["flows", "scaling"]
    for section in sections:
        rows = []
        if section == "flows":
            for flow in ["manual-partial", "manual-void", "automatic", "order", "mixed"]:
                common = ["--flow", flow, "--concurrency", "64", "--duration", d]
                rows.append(row("Holdfast", "SQLite", bench(b, common)))
                rows.append(row("Holdfast", "PostgreSQL", bench(b, common, pg=args.pg)))
        elif section == "scaling":
            for concurrency in ["1", "8", "64", "256"]:
                common = ["--concurrency", concurrency, "--duration", d]
                rows.append(row("Holdfast", "SQLite", bench(b, common)))
                rows.append(row("Holdfast", "PostgreSQL", bench(b, common, pg=args.pg)))
        elif section == "localstripe":
            rows = localstripe(b, d)
        elif section == "million":
            for preload in ["0", "1000000"]:
                common = ["--concurrency", "64", "--duration", d, "--preload", preload]
                label = f"Holdfast, {int(preload):,} intents before"
                if "sqlite" in args.backends:
                    rows.append(row(label, "SQLite", bench(b, common)))
                if "postgres" in args.backends:
                    rows.append(row(label, "PostgreSQL", bench(b, common, pg=args.pg)))
        print(f"\n### {section}\n\n{HEADER}")
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
