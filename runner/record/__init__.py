"""What a cycle's results become in the runner's process: metrics, history, the state file, artifacts."""
