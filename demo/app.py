"""Gradio demo: upload a photo or take a webcam snapshot; every face is classified and explained.

    fer-demo                      # http://127.0.0.1:7860
    python -m demo --port 8000    # --host 0.0.0.0 and --share are opt-in

All model work happens in ``core``; this file only builds the UI. The
``analyze`` API endpoint takes one image and returns JSON:

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    result, annotated = client.predict(handle_file("photo.jpg"), api_name="/analyze")
    for face in result["faces"]:
        print(face["box"], face["label"], face["probabilities"])
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script (Hugging Face Spaces: app_file demo/app.py)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradio as gr

from core import LABELS, MIN_FACE_SIZE, ImageInputError, analyze, default_classifier, explain_faces, overlay_heatmap
from core.render import draw_faces, probability_chart

log = logging.getLogger("fer.demo")
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
CAM_CHOICES = [("Grad-CAM", "gradcam"), ("Grad-CAM++", "gradcam++"), ("HiResCAM", "hirescam")]
PREDICTED = "predicted class"
QUEUE_SIZE = 64  # requests waiting beyond this are refused at once instead of piling up
CONCURRENCY = 2  # the 2-core CPU gains nothing from more; Grad-CAM is serialised in core anyway
OVERLAY_SIZE = 192


def _path_of(image) -> str | bytes:
    """The uploaded file from the raw payload (events run with preprocess=False, so Gradio
    never decodes the file itself and every bad input reaches our clear error messages)."""
    if image is None:
        raise gr.Error("Upload a photo or take a webcam snapshot first.")
    if isinstance(image, dict):
        path = image.get("path")
        if path:
            return path
    if isinstance(image, str):
        return image
    raise gr.Error("Could not read the uploaded file; please upload it again.")


def _analyze(image, face_crop: bool, min_face_size: float, tta: bool):
    try:
        return analyze(
            _path_of(image),
            default_classifier(),
            whole_image=True if face_crop else None,
            min_face_size=int(min_face_size),
            tta=bool(tta),
        )
    except ImageInputError as error:
        raise gr.Error(str(error)) from None
    except gr.Error:
        raise
    except Exception as error:  # never a stack trace in the browser or a dead worker
        log.exception("analysis failed")
        raise gr.Error(f"Could not analyse this image ({type(error).__name__}). Try another photo.") from None


def analyze_photo(
    image, explain_class: str, method: str, opacity: float, face_crop: bool, min_face_size: float, tta: bool
):
    """The UI handler: annotated photo, probability chart, Grad-CAM gallery, JSON, message."""
    result = _analyze(image, face_crop, min_face_size, tta)
    if not result.faces:
        message = (
            "**No face found.** Tick *The image is already a face crop* to classify the whole image, "
            "or lower the minimum face size."
        )
        return draw_faces(result.image, []), None, [], result.to_dict(), message
    targets = [face.label if explain_class in (None, PREDICTED) else explain_class for face in result.faces]
    heatmaps = explain_faces(default_classifier(), [f.face for f in result.faces], targets, method=method or "gradcam")
    gallery = []
    for number, (face, target, heatmap) in enumerate(zip(result.faces, targets, heatmaps, strict=True), start=1):
        overlay = overlay_heatmap(face.face, heatmap, alpha=float(opacity), size=OVERLAY_SIZE)
        gallery.append((overlay, f"Face {number}: {face.label} {face.confidence:.0%} · map for {target}"))
    summary = ", ".join(f"{n}: **{f.label}** ({f.confidence:.0%})" for n, f in enumerate(result.faces, start=1))
    return (
        draw_faces(result.image, result.faces),
        probability_chart(result.faces),
        gallery,
        result.to_dict(),
        f"{result.message} {summary}",
    )


def analyze_if_present(image, *options):
    """Runs on every image change (upload, webcam snapshot, example); clearing the image does nothing."""
    if image is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return analyze_photo(image, *options)


def analyze_api(image):
    """API endpoint: one image in, JSON (faces with box, label, probabilities) and the annotated photo out."""
    result = _analyze(image, face_crop=False, min_face_size=MIN_FACE_SIZE, tta=False)
    return result.to_dict(), draw_faces(result.image, result.faces)


def _fer_examples(limit_per_class: int = 1) -> list[str]:
    """A few FER-2013 test faces when FER2013_PATH is set (written to a temp folder, never committed)."""
    path = os.environ.get("FER2013_PATH")
    if not path:
        return []
    try:
        from PIL import Image

        from training.data import load_fer2013

        test = load_fer2013(path).test
        folder = Path(tempfile.mkdtemp(prefix="fer-examples-"))
        files = []
        for label_index, label in enumerate(LABELS):
            for row in (test.labels == label_index).nonzero()[0][:limit_per_class]:
                file = folder / f"{label}_{test.names[row]}"
                Image.fromarray(test.images[row]).resize((144, 144)).save(file.with_suffix(".png"))
                files.append(str(file.with_suffix(".png")))
        return files
    except Exception as error:
        log.warning("FER-2013 examples unavailable: %s", error)
        return []


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Facial expression recognition · EfficientNet-B2") as blocks:
        gr.Markdown(
            "# Facial expression recognition\n"
            "EfficientNet-B2 trained from scratch on FER-2013 (7 emotions). Upload a photo or take a webcam "
            "snapshot: every face gets its emotion probabilities and a Grad-CAM map of where the model looked."
        )
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(label="Photo", sources=["upload", "webcam"], type="filepath", height=360)
                with gr.Accordion("Options", open=True):
                    explain_class = gr.Dropdown([PREDICTED, *LABELS], value=PREDICTED, label="Explain class")
                    method = gr.Radio(CAM_CHOICES, value="gradcam", label="CAM method")
                    opacity = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Heatmap opacity")
                    face_crop = gr.Checkbox(False, label="The image is already a face crop (skip detection)")
                    min_face_size = gr.Slider(20, 400, value=MIN_FACE_SIZE, step=4, label="Minimum face size (pixels)")
                    tta = gr.Checkbox(False, label="Test-time augmentation (average with the mirrored face)")
                run = gr.Button("Analyze", variant="primary")
            with gr.Column(scale=1):
                message = gr.Markdown(elem_id="message")
                # JPEG: encoding a 640x480 photo takes 2 ms, against 37 ms for Gradio's default WebP.
                annotated = gr.Image(label="Faces", type="numpy", format="jpeg", interactive=False, elem_id="annotated")
                chart = gr.Plot(label="Probabilities", elem_id="chart")
                gallery = gr.Gallery(
                    label="Grad-CAM",
                    columns=4,
                    height="auto",
                    object_fit="contain",
                    preview=False,
                    format="jpeg",
                    elem_id="gradcam",
                )
                details = gr.JSON(label="Result (JSON)", open=False)
        examples = [str(p) for p in sorted(EXAMPLES_DIR.glob("*.jpg"))] + _fer_examples()
        if examples:
            gr.Examples(examples=examples, inputs=[image], label="Examples")

        inputs = [image, explain_class, method, opacity, face_crop, min_face_size, tta]
        outputs = [annotated, chart, gallery, details, message]
        common = {"preprocess": False, "concurrency_limit": CONCURRENCY, "concurrency_id": "model"}
        run.click(analyze_photo, inputs, outputs, api_name="analyze_photo", **common)
        image.change(analyze_if_present, inputs, outputs, api_visibility="private", **common)
        for control in (explain_class, method, face_crop, tta):
            control.input(
                analyze_photo, inputs, outputs, api_visibility="private", trigger_mode="always_last", **common
            )
        opacity.release(analyze_photo, inputs, outputs, api_visibility="private", trigger_mode="always_last", **common)
        # The one-image JSON endpoint for programs (gradio_client), bound to an invisible button.
        api_button = gr.Button(visible=False)
        api_json = gr.JSON(visible=False)
        api_image = gr.Image(visible=False, type="numpy", format="jpeg")
        api_button.click(analyze_api, [image], [api_json, api_image], api_name="analyze", **common)
    blocks.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return blocks


demo = build_demo()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the facial expression recognition demo.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (opt-in)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    default_classifier()  # load the model once, before the first request
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True)


if __name__ == "__main__":
    main()
