"""Score the semantic comparison against the labeled development set.

Usage::

    .venv/bin/python benchmarks/semantic_eval.py [--devset PATH] [--cli] [--show-errors]

Scoring follows the devset README: pairs marked ``capture_failure`` are left out (and reported
separately: were they flagged suspect?); material precision / recall; per-category precision /
recall / F1; macro F1 over categories with at least 3 positive pairs; false-alarm rate on
noise-only pairs; exact match of the new effective date; median and p95 time per pair.

By default documents are normalized with ``tracker.normalize.normalize_file`` and compared
in-process with ``compare_documents`` (the code path of ``tracker compare``); ``--cli`` runs the
``tracker compare OLD NEW --format json`` console script instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tracker.compare.lexicons import CATEGORIES  # noqa: E402
from tracker.compare.semantic import compare_documents  # noqa: E402
from tracker.compare.text import clear_caches  # noqa: E402
from tracker.normalize import normalize_file  # noqa: E402


def run_inprocess(old: Path, new: Path) -> tuple[dict, float]:
    old_doc, new_doc = normalize_file(old), normalize_file(new)
    clear_caches()  # cold: nothing remembered from the previous pair
    normalized = time.perf_counter()
    result = compare_documents(old_doc, new_doc).to_json_dict()
    return result, time.perf_counter() - normalized


def run_cli(tracker: Path, old: Path, new: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    proc = subprocess.run([str(tracker), "compare", str(old), str(new), "--format", "json"],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"tracker compare failed ({proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout), elapsed


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devset", type=Path, default=REPO.parent / "shared" / "devset")
    parser.add_argument("--cli", action="store_true",
                        help="run `tracker compare` as a subprocess instead of in-process")
    parser.add_argument("--show-errors", action="store_true",
                        help="list pairs whose result differs from the label")
    args = parser.parse_args(argv)

    labels_path = args.devset / "labels.jsonl"
    if not labels_path.is_file():
        print(f"error: no labels.jsonl under {args.devset}", file=sys.stderr)
        return 2
    tracker = REPO / ".venv" / "bin" / "tracker"
    if args.cli and not tracker.exists():
        print(f"error: --cli needs the console script {tracker}, which does not exist yet "
              "(install the project: .venv/bin/pip install -e .)", file=sys.stderr)
        return 2

    labels = [json.loads(line) for line in labels_path.read_text().splitlines() if line.strip()]
    times: list[float] = []
    tp = fp = fn = 0
    noise_total = noise_alarms = 0
    date_total = date_hits = 0
    per_cat = {c: [0, 0, 0] for c in CATEGORIES}
    errors: list[str] = []
    capture_flagged: list[str] = []
    capture_total = 0
    for label in labels:
        pair = args.devset / "pairs" / label["id"]
        old, new = pair / "old.md", pair / "new.md"
        if args.cli:
            got, elapsed = run_cli(tracker, old, new)
        else:
            got, elapsed = run_inprocess(old, new)
        times.append(elapsed)
        if label.get("capture_failure"):
            capture_total += 1
            if got.get("suspect"):
                capture_flagged.append(label["id"])
            continue
        want_material, got_material = bool(label["material"]), bool(got["material"])
        tp += want_material and got_material
        fp += got_material and not want_material
        fn += want_material and not got_material
        if label["noise_only"]:
            noise_total += 1
            noise_alarms += got_material
        want_cats, got_cats = set(label["categories"]), set(got["categories"])
        for c in CATEGORIES:
            counts = per_cat[c]
            counts[0] += c in want_cats and c in got_cats
            counts[1] += c in got_cats and c not in want_cats
            counts[2] += c in want_cats and c not in got_cats
        want_date = (label.get("effective_date") or {}).get("new")
        got_date = (got.get("effective_date") or {}).get("new")
        if want_date:
            date_total += 1
            date_hits += want_date == got_date
        if args.show_errors and (want_cats != got_cats or want_material != got_material or
                                 (want_date and want_date != got_date)):
            errors.append(
                f"{label['id']} material {want_material}/{got_material}  "
                f"missing {sorted(want_cats - got_cats)}  extra {sorted(got_cats - want_cats)}"
                + (f"  date {want_date}/{got_date}" if want_date != got_date else "")
                + (f"  suspect: {got.get('suspect_reason')}" if got.get("suspect") else ""))

    print(f"devset: {args.devset}  pairs: {len(labels)}  scored: {len(labels) - capture_total}"
          f"  mode: {'cli' if args.cli else 'in-process'}")
    print()
    print(f"{'category':<20}{'pos':>5}{'P':>8}{'R':>8}{'F1':>8}")
    macro: list[float] = []
    for c in CATEGORIES:
        t, f_, n = per_cat[c]
        p, r, f1 = prf(t, f_, n)
        positives = t + n
        if positives >= 3:
            macro.append(f1)
        print(f"{c:<20}{positives:>5}{p:>8.2f}{r:>8.2f}{f1:>8.2f}")
    print()
    mp, mr, mf = prf(tp, fp, fn)
    ep = per_cat["effective_date"]
    figures = [
        ("material precision", f"{mp:.3f}", ">= 0.90"),
        ("material recall", f"{mr:.3f}", ">= 0.90"),
        ("effective_date F1", f"{prf(*ep)[2]:.3f}", ">= 0.95"),
        ("new effective date exact match", f"{date_hits}/{date_total} = "
         f"{date_hits / date_total if date_total else 1:.3f}", ">= 0.95"),
        ("retention F1", f"{prf(*per_cat['retention'])[2]:.3f}", ">= 0.90"),
        ("noise-only flagged material", f"{noise_alarms}/{noise_total} = "
         f"{noise_alarms / noise_total if noise_total else 0:.3f}", "<= 0.05"),
        ("macro F1 (categories >= 3 pos)", f"{statistics.mean(macro) if macro else 0:.3f}",
         ">= 0.75"),
        ("median time per pair", f"{statistics.median(times) * 1000:.1f} ms", "<= 50 ms"),
        ("p95 time per pair", f"{_p95(times) * 1000:.1f} ms", "<= 250 ms"),
        ("capture failures flagged suspect", f"{len(capture_flagged)}/{capture_total}", ""),
    ]
    width = max(len(name) for name, _, _ in figures)
    for name, value, target in figures:
        print(f"{name:<{width}}  {value:<18} {target}")
    if not args.cli:
        print("(times: compare_documents only, cold caches; normalization excluded)")
    if errors:
        print()
        print("mismatches (want/got):")
        for line in errors:
            print("  " + line)
    return 0


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


if __name__ == "__main__":
    raise SystemExit(main())
