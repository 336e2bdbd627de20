"""The cycle's processes: the forked child that runs pytest, its workers, and the pytest plugins that run there."""
