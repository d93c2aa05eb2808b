"""Export: ONNX and OpenVINO variants, parity, quantization, the gate, latency and the report."""
