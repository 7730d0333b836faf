"""Print every result in ``bench/results/`` as one table, with each figure that has a target."""

import json

from common import RESULTS

VERDICTS = {True: "ok", False: "MISSED", None: "not measured"}


def main() -> None:
    """Print the summary table."""
    rows = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    header = f"{'benchmark':<22} {'metric':<34} {'value':>12} {'baseline':>12} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['name']:<22} {row['metric'][:34]:<34} {row['value']:>12.5g} "
            f"{row['baseline_value']:>12.5g} {row['ratio']:>7.3f}  {row['target']}"
            f" [{VERDICTS[row['passed']]}]"
        )
        for name, value in row.get("figures", {}).items():
            shown = "-" if value["value"] is None else f"{value['value']:.5g}"
            print(
                f"  {name[:54]:<54} {shown:>12} {value['unit']:<10} {value['target']}"
                f" [{VERDICTS[value['passed']]}]"
            )


if __name__ == "__main__":
    main()
