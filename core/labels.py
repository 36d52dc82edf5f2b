"""The seven FER-2013 emotion classes, in the order the model outputs them."""

LABELS: list[str] = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
NUM_CLASSES = len(LABELS)
