"""The top-down cascade: targets down the ladder, target coherence, pacing, scenarios, capacity.

The public functions live in their modules (imported from there, not from this package:
the plan's rules read :mod:`.changes` while the plan package is still loading):

* :func:`missionline.planning.cascade.cascade` -> ``CascadeResult``
* :func:`missionline.planning.coherence.target_coherence` -> ``list[Finding]``
* :func:`missionline.planning.pacing.pacing` -> ``PacingResult``
* :func:`missionline.planning.scenarios.compare` and ``save_scenario``
* :func:`missionline.planning.capacity.capacity_check`
"""
