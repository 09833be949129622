"""Pixel regions: boxes in original-image coordinates, PositionFinder, DicomDrawRegions."""
