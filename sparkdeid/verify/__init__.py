"""Checking de-identified outputs for PHI that survived.

* :mod:`~sparkdeid.verify.phi_values` -- an original's identifying values and
  every place they turn up in another dataset (the metadata scan);
* :mod:`~sparkdeid.verify.pixel_scan` -- OCR of output frames, masked regions, crops;
* :mod:`~sparkdeid.verify.residual` -- the residual-PHI check of one output
  against its original, run by the ResidualPhiGate stage.

``sparkdeid verify`` (pairing folders, one result per file) is a job,
:mod:`sparkdeid.jobs.verify`, with its HTML report in
:mod:`sparkdeid.jobs.verify_report`.
"""
