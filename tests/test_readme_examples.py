"""README's "Use the builders in your project" example runs as written, and its saved model loads with Keras alone."""

import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_block(after):
    """The first ```python block of README.md after the line containing `after`."""
    text = (ROOT / "README.md").read_text()
    return text.split(after, 1)[1].split("```python\n", 1)[1].split("```\n", 1)[0]


def test_the_frozen_backbone_example_runs_and_its_file_loads_without_kerarch(workdir):
    example = readme_block("## Use the builders in your project")
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)
    model = namespace["model"]
    assert not namespace["backbone"].trainable and (workdir / "classifier.keras").exists()
    probe = namespace["preprocess_input"]("mobilenet_v2")(namespace["images"][:4])
    expected = model.predict(probe, verbose=0)

    load = (
        "import sys, numpy as np, keras\n"
        "model = keras.saving.load_model('classifier.keras')\n"
        "np.save('loaded.npy', model.predict(np.load('probe.npy'), verbose=0))\n"
        "assert not any(name.startswith('kerarch') for name in sys.modules)\n"
    )
    np.save(workdir / "probe.npy", probe)
    subprocess.run([sys.executable, "-c", load], cwd=workdir, check=True, capture_output=True)
    np.testing.assert_allclose(np.load(workdir / "loaded.npy"), expected, atol=1e-6)
