"""Checking de-identified outputs for PHI that survived.

* :mod:`~sparkdeid.verify.phi_values` -- an original's identifying values and
  every place they turn up in another dataset (the metadata scan);
* :mod:`~sparkdeid.verify.pixel_scan` -- OCR of output frames, masked regions, crops;
* :mod:`~sparkdeid.verify.run` -- ``sparkdeid verify``: pairing folders, one
  result per file;
* :mod:`~sparkdeid.verify.report` -- the HTML report;
* :mod:`~sparkdeid.verify.residual_gate` -- :class:`ResidualPhiGate`, the
  pipeline stage that fails a file whose output still holds its own PHI.
"""
