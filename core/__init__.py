"""Facial expression recognition on FER-2013 with EfficientNet-B2.

from core import EmotionClassifier, analyze, explain
"""

from core.classifier import EmotionClassifier
from core.faces import MIN_FACE_SIZE, Analysis, FaceResult, analyze, default_classifier, detect_faces
from core.gradcam import CAM_METHODS, explain, explain_faces, overlay_heatmap
from core.images import ImageInputError, load_image
from core.labels import LABELS
from core.preprocess import preprocess, to_face_array
from core.weights import WeightsError

__all__ = [
    "CAM_METHODS",
    "LABELS",
    "MIN_FACE_SIZE",
    "Analysis",
    "EmotionClassifier",
    "FaceResult",
    "ImageInputError",
    "WeightsError",
    "analyze",
    "default_classifier",
    "detect_faces",
    "explain",
    "explain_faces",
    "load_image",
    "overlay_heatmap",
    "preprocess",
    "to_face_array",
]
