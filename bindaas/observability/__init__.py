"""What an operator sees: Prometheus metrics and structured (JSON lines) logs with a request id."""
