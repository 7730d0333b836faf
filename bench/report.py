"""Print every result in ``bench/results/`` as one table."""

import json

from common import RESULTS


def main() -> None:
    """Print the summary table."""
    rows = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    header = f"{'benchmark':<22} {'metric':<34} {'value':>12} {'baseline':>12} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['name']:<22} {row['metric'][:34]:<34} {row['value']:>12.5g} "
              f"{row['baseline_value']:>12.5g} {row['ratio']:>7.3f}  {row['target']}"
              f" [{'ok' if row['passed'] else 'MISSED'}]")


if __name__ == "__main__":
    main()
