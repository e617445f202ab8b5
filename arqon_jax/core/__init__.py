"""The pure core: search spaces, the probe, the history, the strategies and the solver.

Pure functions over NamedTuple states and static configuration, with no user input
handling and no host state: everything here runs under ``jit``, ``vmap`` and
``lax.scan``. The host layer (:mod:`arqon_jax.host`) drives it for the front doors.
"""
