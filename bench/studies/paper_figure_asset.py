"""The course's copy of the paper's figure (minirmt/course/assets/paper_figure.json): the rows of
bench/results/paper_figure/results.json (written by `experiment paper --report`), each cut to the fields the notebooks
read, so that a notebook shows the figure without the bench folder.

    python -m minirmt experiment paper --out bench/results/paper_figure --report
    python bench/studies/paper_figure_asset.py
"""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench/results/paper_figure/results.json"
ASSET = REPO / "minirmt/course/assets/paper_figure.json"
FIELDS = ("task", "g", "model", "seed", "segment_len", "memory", "d_model", "n_layers", "steps", "batch_size",
          "sequences", "accuracy", "free_accuracy", "authors_accuracy", "exact_match", "chance", "device_name")
MADE_BY = ("bash bench/studies/paper_figure.sh, then python -m minirmt experiment paper --out "
           "bench/results/paper_figure --report and python bench/studies/paper_figure_asset.py (the full record: "
           "bench/results/paper_figure)")


def main(asset: Path = ASSET) -> None:
    results = json.loads(RESULTS.read_text())
    rows = [{k: row[k] for k in FIELDS} for row in results["rows"]]
    asset.write_text(json.dumps({"made_by": MADE_BY, "info": results["info"], "rows": rows}, indent=1))
    print(f"{len(rows)} runs -> {asset}")


if __name__ == "__main__":
    main()
