"""Where PositionFinder and DicomDrawRegions lived in 0.1; they are in :mod:`sparkdeid.stages`.

Kept, empty, so the module paths that pipelines saved by 0.1 name still
import (:func:`sparkdeid.stages.install_legacy_paths`).
"""
