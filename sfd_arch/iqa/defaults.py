"""SFD-IQA's default settings, apart from the scorer so that command-line parsers show them without torch."""

# Tiles bound memory, they are not part of the score's definition: the taps are fully convolutional and the
# positional embeddings are interpolated, so any size works. Up to 512 px an image is scored whole, in one CLIP
# pass (a 512x384 image costs one forward pass, not six overlapping 224 px crops).
DEFAULT_TILE = 512
DEFAULT_BATCH_SIZE = 16
DEFAULT_ALPHA = 0.5
