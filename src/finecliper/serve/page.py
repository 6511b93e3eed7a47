"""The page of `finecliper serve`: upload a clip, see its top classes, what each image branch read (the cue
renderings), the attention maps, the class-wise similarities, the description and its weight w.

One upload is one `explain_clip` under the server's `Predictor` (so the checks of `predict`: a file that is
not a clip, has no face or cannot be read gets its one sentence on the page, and the server keeps serving).
Privacy [OURS]: Gradio's analytics are off (GRADIO_ANALYTICS_ENABLED=False, set before Gradio is imported),
no share link is made, the theme uses the system's fonts (Gradio's default theme has the browser fetch web
fonts), and the server binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from finecliper.errors import UserError
from finecliper.explain.explainer import explain_clip
from finecliper.explain.files import write_explanation
from finecliper.inference.predictor import Predictor
from finecliper.serve.uploads import ACCEPTED, clip_of_upload

log = logging.getLogger(__name__)

TITLE = "FineCLIPER: what the model sees"
UNPACK_FACTOR = 10  # a zip may unpack to this many times the upload limit


def analyse(predictor: Predictor, upload: str | None, method: str, max_bytes: int, top: int = 5):
    """(message, top classes {class: probability}, inputs, attention, similarity images, description) for
    the page; on bad input the message is the sentence and the rest is empty."""
    empty = (None, None, None, None, "")
    if not upload:
        return ("Upload a video file or a .zip of frames first.", *empty)
    name = Path(upload).name
    with tempfile.TemporaryDirectory(prefix="finecliper-serve-") as tmp:
        clip = Path(upload)
        try:
            clip = clip_of_upload(upload, Path(tmp), max_bytes * UNPACK_FACTOR)
            expl = explain_clip(predictor, clip, method=method)
        except UserError as exc:  # the sentence names the upload, not the server's temporary paths
            return (f"**{name}**: {str(exc).replace(str(clip), name)}", *empty)
        except Exception as exc:  # the server keeps serving whatever one upload does; the log has the trace
            log.exception("serve: %s failed", name)
            return (f"**{name}** could not be analysed: {type(exc).__name__}: {exc}", *empty)
        paths = write_explanation(expl, Path(tmp) / "out")
        images = [np.asarray(Image.open(paths[key]).convert("RGB")) for key in ("inputs", "attention", "similarity")]
    pred = expl.prediction
    top_classes = dict(pred.top(top))
    message = f"**{name}**: {pred.label} ({pred.probabilities[pred.label] * 100:.1f}%)"
    return (message, top_classes, *images, _description(pred))


def _description(pred) -> str:
    lines = [f"**Weight w of the video features:** {pred.weight:.2f}",
             f"**Description** ({pred.description_source or 'none'}): {pred.description or '-'}",
             f"**Frames:** {pred.frames}, {'face cropped from a raw video' if pred.face_cropped else 'used whole'}"]
    lines += [f"- {note}" for note in pred.notes]
    return "\n\n".join(lines)


def build_page(predictor: Predictor, method: str, max_bytes: int):
    """The Gradio Blocks of the page (not launched)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio as gr  # the optional extra: only here, after the analytics switch

    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.Markdown(f"## {TITLE}\nCheckpoint `{predictor.checkpoint}`: classes {', '.join(predictor.class_names)}.")
        with gr.Row():
            upload = gr.File(label="clip: a video file or a .zip of frames", file_types=ACCEPTED, type="filepath")
            with gr.Column():
                button = gr.Button("Analyse", variant="primary")
                message = gr.Markdown(elem_id="result-message")
                top = gr.Label(label="top classes", elem_id="top-classes")
        text = gr.Markdown(elem_id="description")
        inputs = gr.Image(label="what each image branch reads (frames, cue renderings)", type="numpy")
        attention = gr.Image(label="attention maps", type="numpy")
        similarity = gr.Image(label="class-wise cosine similarity", type="numpy")
        button.click(lambda f: analyse(predictor, f, method, max_bytes), inputs=upload,
                     outputs=[message, top, inputs, attention, similarity, text], concurrency_limit=1)
    return page


def theme():
    """Gradio's default look with the system's fonts: nothing is fetched from a font service."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def serve(predictor: Predictor, host: str, port: int, max_upload_mb: int, method: str) -> None:
    """Run the page until interrupted."""
    max_bytes = max_upload_mb * 2**20
    page = build_page(predictor, method, max_bytes)
    page.queue(default_concurrency_limit=1)
    page.launch(server_name=host, server_port=port, share=False, inbrowser=False, max_file_size=max_bytes,
                theme=theme(), footer_links=[], ssr_mode=False, mcp_server=False)
