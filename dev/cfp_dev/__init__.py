"""Development package of checkout-freshportal: simulators, the shared scenario and the demo.

It depends on the product library (``checkout_freshportal``); the library never imports it
(an import contract checks that), and the deployable image does not contain it.
"""
