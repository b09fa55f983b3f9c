"""The client's per-call cost before and after the transport split (issue 10), in one run.

    .venv/bin/python -m bench.client_transport_bench [--before 27ee50a] [--runs 6]

``bench/client_bench.py``'s in-process rows (``cpu_rows``: the client and a bare httpx POST both
answered by one ``httpx.MockTransport``, best of 9 interleaved rounds of 2,000 calls) measure what
the client adds per call without a network. This runs them for the tree at ``--before`` (checked
out into a temporary git worktree) and for this tree, alternating subprocesses ``--runs`` times
each, so drift on the machine hits both alike. Per tree the best run counts (other work only ever
slows a run down). The bare httpx rows are the noise control: the same code in both trees.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import table, write_section  # noqa: E402

BEFORE = "27ee50a"  # the last commit with django_restate/client.py, before the client/ package
PROBE = (
    "import json, os, sys; sys.path.insert(0, os.getcwd()); "
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings'); "
    "from bench.client_bench import cpu_rows; import django_restate; "
    "assert django_restate.__file__.startswith(os.getcwd()), django_restate.__file__; "
    "print(json.dumps(cpu_rows()))"
)


def run(tree: Path) -> dict[str, tuple[float, float]]:
    """{mode: (bare µs, client µs)} of one in-process run in ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    output = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=env, capture_output=True, text=True)
    if output.returncode != 0:
        raise RuntimeError(f"the probe failed in {tree}:\n{output.stderr[-2000:]}")
    rows = json.loads(output.stdout.strip().splitlines()[-1])
    return {row[0].split(",")[0]: (float(row[1]), float(row[2])) for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="git revision of the tree before the change")
    parser.add_argument("--runs", type=int, default=6, help="runs per tree, alternating")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    load_before = os.getloadavg()[0]
    best: dict[str, dict[str, tuple[float, float]]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory() as scratch:
        old = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), options.before], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        try:
            for number in range(options.runs):
                trees = [("before", old), ("after", ROOT)]
                for name, tree in trees if number % 2 == 0 else reversed(trees):
                    for mode, (bare, ours) in run(tree).items():
                        kept = best[name].get(mode)
                        best[name][mode] = (min(bare, kept[0]), min(ours, kept[1])) if kept else (bare, ours)
                print(f"run {number + 1}: {best}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    rows = []
    for mode in best["after"]:
        (bare_b, ours_b), (bare_a, ours_a) = best["before"][mode], best["after"][mode]
        rows.append([
            mode, f"{bare_b:.0f}", f"{ours_b:.0f}", f"{ours_b - bare_b:.0f}", f"{bare_a:.0f}", f"{ours_a:.0f}",
            f"{ours_a - bare_a:.0f}", f"**{ours_a / ours_b:.3f}**", f"{bare_a / bare_b:.3f}",
        ])  # fmt: skip
    headers = ["mode", "before: bare µs", "before: client µs", "before adds µs", "after: bare µs", "after: client µs"]
    headers += ["after adds µs", "client after / before", "control: bare after / before"]
    markdown = "\n\n".join(
        [
            "## Client per-call cost before and after the transport split (`python -m bench.client_transport_bench`)",
            f"`bench/client_bench.py`'s in-process rows (client and bare httpx POST answered by one "
            f"`httpx.MockTransport`; best of 9 interleaved rounds of 2,000 calls) for the tree at "
            f"`{options.before}` (`django_restate/client.py`) and for this tree (`client/` package: references "
            f"over `HttpTransport`), in alternating subprocesses, {options.runs} runs each, best run per tree. "
            "Target (issue 10): the client's per-call cost within 1.05x of before (client after / before <= "
            "1.05). Control: the bare httpx POST, the same code in both trees.",
            table(headers, rows),
            f"{os.cpu_count()} CPUs, load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after.",
        ]
    )
    print(markdown)
    if not options.no_write:
        write_section("client_transport", markdown)


if __name__ == "__main__":
    main()
