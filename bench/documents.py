"""Benchmark: PDF documents from the shipped templates (documents/).

    .venv/bin/python bench/documents.py [--runs 21] [--items 720] [--batch 200]

Prints, each figure as wall and CPU seconds (CPU is steadier on a shared machine): the
first 1-page invoice of the process (cold: fonts, stylesheet, template compile), then the
median of --runs invoices after a warm-up; the --items-line specification (about 25 pages)
and its page count; then --batch invoices requested as one batch and rendered by 1 and by
2 documents workers (bench/document_batch.py). Last, one JSON line. Each figure is a
function taking the results dict."""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pypdf  # noqa: E402

from documents.render import render_pdf, shipped_template  # noqa: E402
from bench.document_batch import batch_figures  # noqa: E402
from documents.samples import sample_context, sample_specification  # noqa: E402


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def pages(data: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(data)).pages)


def invoice_cold(results: dict, args) -> None:
    source, context = shipped_template("invoice"), sample_context("invoice")
    data, wall, cpu = timed(lambda: render_pdf(source, context))
    results["invoice_cold_ms"] = round(wall * 1000, 1)
    results["invoice_cold_cpu_ms"] = round(cpu * 1000, 1)
    results["invoice_pages"] = pages(data)
    print(f"invoice, first in process: {wall * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms), "
          f"{results['invoice_pages']} page(s)")


def invoice_warm(results: dict, args) -> None:
    source, context = shipped_template("invoice"), sample_context("invoice")
    render_pdf(source, context)
    walls, cpus = [], []
    for _ in range(args.runs):
        _data, wall, cpu = timed(lambda: render_pdf(source, context))
        walls.append(wall)
        cpus.append(cpu)
    results["invoice_ms"] = round(statistics.median(walls) * 1000, 1)
    results["invoice_cpu_ms"] = round(statistics.median(cpus) * 1000, 1)
    print(f"invoice, median of {args.runs}: {results['invoice_ms']} ms "
          f"(CPU {results['invoice_cpu_ms']} ms; goal 100 ms)")


def specification(results: dict, args) -> None:
    source, context = shipped_template("specification"), sample_specification(args.items)
    walls, cpus, data = [], [], b""
    for _ in range(3):
        data, wall, cpu = timed(lambda: render_pdf(source, context))
        walls.append(wall)
        cpus.append(cpu)
    results["specification_items"] = args.items
    results["specification_pages"] = pages(data)
    results["specification_s"] = round(statistics.median(walls), 2)
    results["specification_cpu_s"] = round(statistics.median(cpus), 2)
    print(f"specification, {args.items} lines, {results['specification_pages']} pages, "
          f"median of 3: {results['specification_s']} s (CPU {results['specification_cpu_s']} s;"
          f" goal 2 s)")


def batch(results: dict, args) -> None:
    """Invoices for --batch deals as one batch, rendered by 1 then 2 documents workers on
    RQ (bench/document_batch.py builds its own database and uses a Redis of its own)."""
    if not args.batch:
        return
    for row in batch_figures(args.batch, (1, 2)):
        key = f"batch_{row['workers']}_workers"
        results[f"{key}_s"] = row["seconds"]
        results[f"{key}_per_s"] = row["per_second"]
        results[f"{key}_ready"] = row["ready"]
        print(f"{row['count']} invoices as one batch, {row['workers']} worker(s) "
              f"[{row['database']}]: {row['seconds']} s ({row['per_second']} per s), "
              f"ready {row['ready']}, failed {row['failed']}")


FIGURES = (invoice_cold, invoice_warm, specification, batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--items", type=int, default=720)  # 25 pages
    parser.add_argument("--batch", type=int, default=200,
                        help="invoices in the batch on workers (0: skip; needs Redis)")
    args = parser.parse_args()
    results: dict = {}
    for figure in FIGURES:
        figure(results, args)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
