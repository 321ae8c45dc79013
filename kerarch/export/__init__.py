"""Export to Keras, SavedModel and (quantized) TFLite, verified with LiteRT; models with one input or several.

    from kerarch.export import export_model, tflite_predict, tflite_latency
"""

from kerarch.export.exporter import (
    FORMATS, REPORT_FILE, ExportVerificationError, TextEndpoint, export_model, export_owner, publishing, write_report,
)
from kerarch.export.tflite import (
    INT8_GRANULARITIES, QUANTIZE_MODES, TFLITE_FILES, convert_saved_model, tflite_latency, tflite_predict,
)

__all__ = [
    "FORMATS",
    "INT8_GRANULARITIES",
    "QUANTIZE_MODES",
    "REPORT_FILE",
    "TFLITE_FILES",
    "ExportVerificationError",
    "TextEndpoint",
    "convert_saved_model",
    "export_model",
    "export_owner",
    "publishing",
    "tflite_latency",
    "tflite_predict",
    "write_report",
]
