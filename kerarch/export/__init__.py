"""Export to Keras, SavedModel and (quantized) TFLite, verified with LiteRT.

    from kerarch.export import export_model, tflite_predict, tflite_latency
"""

from kerarch.export.exporter import (
    FORMATS, REPORT_FILE, ExportVerificationError, export_model, export_owner, publishing, write_report,
)
from kerarch.export.tflite import QUANTIZE_MODES, TFLITE_FILES, convert_saved_model, tflite_latency, tflite_predict

__all__ = [
    "FORMATS",
    "QUANTIZE_MODES",
    "REPORT_FILE",
    "TFLITE_FILES",
    "ExportVerificationError",
    "convert_saved_model",
    "export_model",
    "export_owner",
    "publishing",
    "tflite_latency",
    "tflite_predict",
    "write_report",
]
