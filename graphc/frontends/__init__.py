"""Ways into graphc graphs besides the graph-building API: TF1's variable scopes and
initializers, and ONNX models (`gc.frontends.onnx`, loaded on first use: it needs the
`onnx` package, `pip install 'graphc[onnx]'`)."""


def __getattr__(name: str):
    if name == "onnx":
        import importlib
        return importlib.import_module(".onnx", __name__)
    raise AttributeError(f"module 'graphc.frontends' has no attribute {name!r}")
