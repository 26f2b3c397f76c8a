"""Neural audio codec: encoder -> residual vector quantizer -> Vocos-style decoder (STFT head, fixed inverse STFT)."""
