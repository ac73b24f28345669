"""``python -m checkout_freshportal.sidecar serve|poison``: the sidecar without the ``cfp`` wrapper."""

from checkout_freshportal.sidecar.cli import main

main()
