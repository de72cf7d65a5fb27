"""What contagion adds to a full scoring run: the seed, with and without its ``contagion``.

Runs on the ledger of ``bench/score.py`` (built there once): a warm-up of each rulebook,
then ``--repeat`` timed runs of each, alternating, and the best of each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import yaml

from common import DATA, SEED, bench_store, log
from socialrating.ledger.rulebooks import install_rulebook
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run

AS_OF = dt.date(2021, 12, 31)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20_000_000)
    ap.add_argument("--subjects", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    store, seed = bench_store(args.records, args.subjects)
    contacts = store.scalar(
        """SELECT count(*) FROM entries e JOIN parameters p USING (parameter_id)
           WHERE p.code = ? AND e.counterpart_id IS NOT NULL""",
        [seed.spec.contagion.parameter if seed.spec.contagion else ""],
    )
    data = yaml.safe_load(seed.yaml_text)
    data.pop("contagion", None)
    data["name"] = f"{data['name']}-no-contagion"
    data["catalogue"] = str((SEED.parent / data["catalogue"]).resolve())
    path = DATA / "seed-no-contagion.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    without = load_rulebook(path)
    install_rulebook(store, without)
    best = {"with": float("inf"), "without": float("inf")}
    lowered = 0
    for rb in (seed, without):
        score_run(store, AS_OF, rb, full=True)  # warm: compiles the plan
    for _ in range(args.repeat):
        for name, rb in (("with", seed), ("without", without)):
            start = time.perf_counter()
            run = score_run(store, AS_OF, rb, full=True)
            best[name] = min(best[name], time.perf_counter() - start)
            lowered = run.contagion.get("lowered", lowered)
            log(f"  {name} contagion: {time.perf_counter() - start:.2f} s")
    print(
        f"\n{args.records:,} records, {contacts:,} contact records: full seed "
        f"{best['with']:.2f} s with contagion, {best['without']:.2f} s without "
        f"({100 * (best['with'] / best['without'] - 1):+.1f} %); {lowered:,} citizens lowered"
    )


if __name__ == "__main__":
    main()
