"""The runner's process: the clock, the monitor that runs one cycle end to end, the executor that starts it."""
