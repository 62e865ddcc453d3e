"""Data and models of the image, audio and multimodal-LLM example DAGs, on a local workspace.

Nothing is downloaded: images are scikit-learn's handwritten digits rendered as PNG files, audio is
synthetic tones written as WAV files (``scipy.io.wavfile``), and the "LLM" is a stand-in chat model
with the OpenAI chat signature that reads the digit in each image with the same small classifier.

``prepare_all(workspace)`` creates every object the three DAGs in ``dags_examples/`` expect::

    ML.PUBLIC.MEDIA                 stage: digits/*.png, audio/*.wav
    ML.PUBLIC.BATCH_OUTPUT          stage: job results
    ML.PUBLIC.DIGITS                model (V1): predict(IMAGE BYTES) -> DIGIT
    ML.PUBLIC.TONES                 model (V1): predict(AUDIO STRING, base64 WAV) -> DOMINANT_HZ, RMS, SECONDS
    ML.PUBLIC.VISION_CHAT           model (V1): __call__(messages) -> OpenAI chat completion, with params
    ML.PUBLIC.CAPTION_REQUESTS      table: IMAGE_PATH, MESSAGES (json.dumps of OpenAI chat messages)

Run ``python scripts/media_data.py <workspace folder>`` to create them for the demo.
"""

# No "from __future__ import annotations": snowflake-ml checks inference methods' annotations at runtime.

import base64
import io
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from snowflake.ml.model import custom_model, model_signature, openai_signatures

IMAGE_SIZE = 32  # pixels per side of a rendered digit (the 8x8 originals scaled up)
SAMPLE_RATE = 8000
TONES_HZ = (220.0, 330.0, 440.0, 550.0, 660.0, 880.0)


# -- images --------------------------------------------------------------------------------------


def digit_images(count: int) -> tuple[list[bytes], list[int], Any]:
    """``count`` digits (0, 1, ..., 9, 0, ...) as PNG bytes with their labels, and a classifier trained
    on the other digits of the data set."""
    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier

    digits = load_digits()
    by_label = [np.flatnonzero(digits.target == label) for label in range(10)]
    shown = np.array([by_label[i % 10][i // 10] for i in range(count)], dtype=int)
    train = np.setdiff1d(np.arange(len(digits.target)), shown)
    classifier = KNeighborsClassifier(n_neighbors=3).fit(digits.data[train], digits.target[train])
    return [png_of(digits.images[i]) for i in shown], [int(digits.target[i]) for i in shown], classifier


def png_of(image: np.ndarray) -> bytes:
    """An 8x8 digit (values 0-16) as a grayscale PNG of IMAGE_SIZE pixels per side."""
    from PIL import Image

    pixels = Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    pixels.resize((IMAGE_SIZE, IMAGE_SIZE), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def digit_features(png: bytes) -> np.ndarray:
    """The 64 features scikit-learn's digits classifier takes, from a PNG."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L").resize((8, 8), Image.BOX)
    return np.asarray(image, dtype=np.float64).reshape(64) * 16 / 255


class DigitClassifier(custom_model.CustomModel):
    """Reads the handwritten digit in each image's bytes (a BYTES input: ``convert_to="raw_bytes"``)."""

    def __init__(self, classifier: Any) -> None:
        super().__init__(custom_model.ModelContext())
        self.classifier = classifier

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        features = np.stack([digit_features(bytes(png)) for png in X["IMAGE"]])
        return pd.DataFrame({"DIGIT": self.classifier.predict(features).astype(np.int64)})


DIGITS_SIGNATURE = model_signature.ModelSignature(
    inputs=[model_signature.FeatureSpec("IMAGE", model_signature.DataType.BYTES)],
    outputs=[model_signature.FeatureSpec("DIGIT", model_signature.DataType.INT64)],
)


# -- audio ---------------------------------------------------------------------------------------


def tone_wav(frequency: float, *, seconds: float = 0.25, seed: int = 0) -> bytes:
    """A 16-bit mono WAV of a sine tone with a little noise, ending in silence (trailing zero bytes)."""
    from scipy.io import wavfile

    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    noise = np.random.default_rng(seed).normal(scale=0.05, size=t.size)
    signal = np.concatenate([0.6 * np.sin(2 * np.pi * frequency * t) + noise, np.zeros(SAMPLE_RATE // 20)])
    buffer = io.BytesIO()
    wavfile.write(buffer, SAMPLE_RATE, (signal * 32767).astype(np.int16))
    return buffer.getvalue()


def signal_features(wav: bytes) -> tuple[float, float, float]:
    """Dominant frequency (Hz), RMS level (0-1) and duration (s) of a WAV file's bytes."""
    from scipy.io import wavfile

    rate, samples = wavfile.read(io.BytesIO(wav))
    signal = samples.astype(np.float64) / 32768
    spectrum = np.abs(np.fft.rfft(signal))
    frequencies = np.fft.rfftfreq(signal.size, d=1 / rate)
    return float(frequencies[spectrum.argmax()]), float(np.sqrt(np.mean(signal**2))), signal.size / rate


class ToneAnalyzer(custom_model.CustomModel):
    """Signal features of each WAV file, handed over as base64 text (a STRING input)."""

    def __init__(self) -> None:
        super().__init__(custom_model.ModelContext())

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        rows = [signal_features(base64.b64decode(text)) for text in X["AUDIO"]]
        return pd.DataFrame(rows, columns=["DOMINANT_HZ", "RMS", "SECONDS"])


TONES_SIGNATURE = model_signature.ModelSignature(
    inputs=[model_signature.FeatureSpec("AUDIO", model_signature.DataType.STRING)],
    outputs=[
        model_signature.FeatureSpec(name, model_signature.DataType.DOUBLE)
        for name in ("DOMINANT_HZ", "RMS", "SECONDS")
    ],
)


# -- multimodal chat -----------------------------------------------------------------------------


class StandInChatModel(custom_model.CustomModel):
    """A stand-in for a vision LLM served by vLLM: OpenAI chat messages in, chat completions out.

    It answers from what it is handed: the text of the last user message and, for each image (a
    ``data:`` URL, as stage URLs are handed to the model), the digit the small classifier reads in it.
    """

    def __init__(self, classifier: Any) -> None:
        super().__init__(custom_model.ModelContext())
        self.classifier = classifier

    @custom_model.inference_api
    def __call__(
        self,
        X: pd.DataFrame,
        *,
        temperature: float = 1.0,
        max_completion_tokens: int = 250,
        stop: list[str] = [],  # noqa: B006 - the signature's default; never mutated
        n: int = 1,
        stream: bool = False,
        top_p: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        response_format: dict = None,  # type: ignore[assignment]  # snowflake-ml takes no Optional here
        model: str = None,  # type: ignore[assignment]
    ) -> pd.DataFrame:
        rows = []
        for messages in X["messages"]:
            answer = self._answer(messages)[:max_completion_tokens]
            choice = {
                "index": 0,
                "message": {"content": answer, "name": None, "role": "assistant"},
                "logprobs": None,
                "finish_reason": "stop",
            }
            rows.append(
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion",
                    "created": time.time(),
                    "model": model or "stand-in-vision-chat",
                    "choices": [choice] * n,
                    "usage": {
                        "completion_tokens": len(answer.split()),
                        "prompt_tokens": 0,
                        "total_tokens": 0,
                    },
                }
            )
        return pd.DataFrame(rows)

    def _answer(self, messages: list[dict[str, Any]]) -> str:
        prompt, digits = "", []
        for message in messages:
            for part in message.get("content") or []:
                if part.get("type") == "text":
                    prompt = part["text"]
                elif part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    if not url.startswith("data:image/"):
                        return f"I cannot open {url!r}: images must reach me inline."
                    png = base64.b64decode(url.split(",", 1)[1])
                    digits.append(int(self.classifier.predict(digit_features(png)[None, :])[0]))
        shown = ", ".join(str(d) for d in digits) or "no image"
        return f"Asked {prompt!r}: the image shows the digit {shown}."


# -- workspace setup -----------------------------------------------------------------------------


def caption_messages(image_path: str) -> list[dict[str, Any]]:
    """OpenAI chat messages asking about one stage image (its full stage path as the image URL)."""
    return [
        {"role": "system", "content": [{"type": "text", "text": "You read handwritten digits."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Which digit is this?"},
                {"type": "image_url", "image_url": {"url": image_path}},
            ],
        },
    ]


def prepare_all(workspace: Any, *, images: int = 24) -> dict[str, Any]:
    """Create the stages, files, models and table of the three example DAGs; return the truth."""
    workspace.create_stage("MEDIA", replace=True)
    workspace.create_stage("BATCH_OUTPUT", replace=True)
    pngs, labels, classifier = digit_images(images)
    truth: dict[str, Any] = {"digits": {}, "tones": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (png, label) in enumerate(zip(pngs, labels, strict=True)):
            file = Path(tmp) / f"digit_{i:03d}.png"
            file.write_bytes(png)
            truth["digits"][workspace.put(file, "@MEDIA/digits/")] = label
        (Path(tmp) / "README.txt").write_text("Not an image: file_pattern leaves it out.")
        workspace.put(Path(tmp) / "README.txt", "@MEDIA/digits/")
        for i, hz in enumerate(TONES_HZ):
            file = Path(tmp) / f"tone_{int(hz)}hz.wav"
            file.write_bytes(tone_wav(hz, seed=i))
            truth["tones"][workspace.put(file, "@MEDIA/audio/")] = hz

    workspace.log_model(
        DigitClassifier(classifier),
        model_name="DIGITS",
        version_name="V1",
        signatures={"predict": DIGITS_SIGNATURE},
    )
    workspace.log_model(
        ToneAnalyzer(), model_name="TONES", version_name="V1", signatures={"predict": TONES_SIGNATURE}
    )
    workspace.log_model(
        StandInChatModel(classifier),
        model_name="VISION_CHAT",
        version_name="V1",
        signatures=openai_signatures.OPENAI_CHAT_WITH_PARAMS_SIGNATURE,
    )
    requests = pd.DataFrame(
        {
            "IMAGE_PATH": list(truth["digits"]),
            "MESSAGES": [json.dumps(caption_messages(path)) for path in truth["digits"]],
        }
    )
    workspace.write_table("CAPTION_REQUESTS", requests)
    return truth


if __name__ == "__main__":
    from airflow_snowflake_batch.local import LocalWorkspace

    prepare_all(LocalWorkspace(sys.argv[1]))
    print(f"Created the image, audio and chat examples' objects in {sys.argv[1]}.")
