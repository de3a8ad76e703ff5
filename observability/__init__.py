"""Cross-cutting context for logs and error reports, below every app: nothing here
imports Django models or another app, so every layer may use it."""
