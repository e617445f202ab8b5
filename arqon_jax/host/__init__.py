"""The host layer: what every front door needs between the user and the pure solver.

* :mod:`.config`: one rule for user settings (seeds to PRNG keys, integer checks).
* :mod:`.evaluate`: calling user objectives and turning what they return into values.

Front doors (``minimize``, ``compat``, ``tune``, ``distributed``, ``cli``) import from
here, never from each other's private helpers.
"""
