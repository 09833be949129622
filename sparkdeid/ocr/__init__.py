"""OCR: the engine protocol, the registry of back-ends, and the TextDetector stage."""
