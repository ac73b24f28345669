"""``make demo``: both sandboxes, the sidecar and standalone Airflow, checked against the scenario.

``run`` is the sequence, ``stack`` the processes, ``flow`` the near-real-time half and ``landed``
the landed-vs-scenario table (docs/demo.md).
"""
