"""The payment status state machine: facts in, one derived status out, whatever the order."""
