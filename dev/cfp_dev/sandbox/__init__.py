"""Simulators of the external systems, for the demo, the tests and the benchmarks.

Product code never imports this package. ``checkout`` simulates Checkout.com; ``cli`` holds
the ``cfp sandbox ...`` subcommands.
"""
