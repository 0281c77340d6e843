"""Reports for people: a comparison (``verify``) as JSON and as one self-contained HTML page.

``json`` holds every number and every listed item, for tools; ``html`` the same for a
director or an auditor (inline CSS and SVG, no script, no network; RGAA-minded tables).
"""

from .html import describe, write_html
from .json import comparison_dict, write_json

__all__ = ["comparison_dict", "describe", "write_html", "write_json"]
