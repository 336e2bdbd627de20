"""The synthetic monitor: runs the journey suite on a fixed interval and serves its results as metrics."""
