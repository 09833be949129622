"""Jobs built from the stages: batch over folders (and, later, S3 and streams)."""
