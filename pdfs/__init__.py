"""HTML → PDF with WeasyPrint, fetching nothing but `data:` URLs and the app's own
static files. Used by `agreements` (change agreements) and `billing` (receipts); it
knows neither. No models: not a Django app."""

from .rendering import STATIC_BASE_URL, StaticFileRefused, html_to_pdf, static_file, static_path_for

__all__ = ["STATIC_BASE_URL", "StaticFileRefused", "html_to_pdf", "static_file", "static_path_for"]
