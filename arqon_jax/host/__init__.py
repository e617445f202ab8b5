"""The host layer: what every front door needs between the user and the pure core.

* :mod:`.config`: one rule for user settings (seeds to PRNG keys, integer checks,
  optional extras, the persistent compilation cache).
* :mod:`.settings`: the ArqonHPO-style solver configuration (``ArqonSolver``,
  ``ArqonProbe``, the CLI).
* :mod:`.jsonio`: the user's JSON and TOML in and out (configs, results, strict output).
* :mod:`.evaluate`: calling user objectives and turning what they return, or what a user
  tells, into values (``minimize``, the Ray workers, ``ArqonSolver.tell``, Tune metrics);
  :mod:`.objective`: what kind of objective it is (traceable or not, batch or one point,
  loaded from a ``module:function`` spec).
* :mod:`.steps`: the one compiled solver step of every host-driven run (bounds as data);
  :mod:`.device`: the device path's compiled loops (``minimize``, ``make_minimizer``, the demo).
* :mod:`.run`: ``minimize``'s runs, once its arguments are checked: the host path's loop
  and the device path's, each up to the result or the partial result of a failure.
* :mod:`.nested`: search spaces with nested and conditional parameters over a flat
  :class:`~arqon_jax.Space`, and the value coding of quantized and log-integer
  parameters (``ArqonSearch``'s Tune spaces).
* :mod:`.session`: the engine of the ask/tell front doors: the ledger of proposals,
  budget accounting and the versioned JSON state (:mod:`.state_io`); :mod:`.results`:
  told results (ArqonHPO's dicts) checked and matched to their proposals.
* :mod:`.checkpoint`: ``minimize``'s checkpoints, and the atomic write and lock of every
  state file (the CLI's too); :mod:`.polish`: ``minimize``'s gradient polish;
  :mod:`.outcome`: its result; :mod:`.cache`: compiled programs per objective, held weakly;
  :mod:`.progress`: the progress line.

Front doors (``minimize``, ``compat``, ``tune``, ``distributed``, ``cli``) import from
here and from :mod:`arqon_jax.core`, never from each other's private helpers.
"""
