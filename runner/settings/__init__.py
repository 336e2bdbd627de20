"""The runner's settings: the command line and environment, the web configuration file, shards. Runner's process."""
