"""The benchmark harness: scenario files, runs, metrics, results, W&B and reports."""
