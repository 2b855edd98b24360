"""Data: SynthFaces (procedural labelled faces) and, later, real facesets."""
