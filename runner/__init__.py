"""The synthetic monitor: runs the journey suite on a fixed interval and serves its results as metrics.

PYTEST_DONT_REWRITE: the package ships a pytest plugin (``runner.journey.plugin``), so pytest would mark the whole
package for assertion rewriting; the runner has imported it long before, and filterwarnings = error would
turn pytest's "already imported" warning into a failed cycle. The journeys' own asserts are rewritten.
"""
